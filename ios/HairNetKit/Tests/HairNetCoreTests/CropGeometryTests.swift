import Testing
@testable import HairNetCore

@Suite("Crop rule, Vision boxes and paste-back")
struct CropGeometryTests {
    let rule = try! CropRule(k: 2, dx: 0, dy: 0)

    /// The paste-back rule written out independently: ⌊(2(p − o) + 1)·size / (2·side)⌋.
    private func referenceLabel(_ map: LabelMap, x: Int, y: Int, box: CropBox) -> PixelLabel {
        guard (box.x ..< box.x + box.side).contains(x), (box.y ..< box.y + box.side).contains(y) else { return .background }
        let column = ((2 * (x - box.x) + 1) * map.width) / (2 * box.side)
        let row = ((2 * (y - box.y) + 1) * map.height) / (2 * box.side)
        return map[column, row]
    }

    @Test("a face at the top-left border: the square extends past the photo and pastes back clipped")
    func faceAtTheBorder() throws {
        let box = try rule.cropBox(for: FaceBox(x: 0, y: 0, width: 40, height: 30))
        #expect(box == CropBox(x: -20, y: -25, side: 80))
        let pasted = try Golden.pattern.pastedIntoPhoto(width: 100, height: 70, cropBox: box)
        for y in 0 ..< 70 {
            for x in 0 ..< 100 {
                #expect(pasted[x, y] == referenceLabel(Golden.pattern, x: x, y: y, box: box))
            }
        }
        #expect(pasted[60, 0] == .background && pasted[0, 55] == .background)
    }

    @Test("a face beyond the bottom-right corner pastes nothing onto the photo")
    func faceOutsideThePhoto() throws {
        let box = try rule.cropBox(for: FaceBox(x: 500, y: 400, width: 50, height: 50))
        let pasted = try Golden.pattern.pastedIntoPhoto(width: 64, height: 48, cropBox: box)
        #expect(pasted.labels.allSatisfy { $0 == PixelLabel.background.rawValue })
    }

    @Test("a 1×1 photo: whole-image square and a face box both paste the centre of the crop")
    func tinyImage() throws {
        let whole = try CropBox.wholeImage(width: 1, height: 1)
        #expect(whole == CropBox(x: 0, y: 0, side: 1))
        let pasted = try Golden.pattern.pastedIntoPhoto(width: 1, height: 1, cropBox: whole)
        #expect(pasted.labels == [Golden.pattern[112, 112].rawValue])
        // A sub-pixel face still gets a square of at least one pixel.
        #expect(try CropRule(k: 1, dx: 0, dy: 0).cropBox(for: FaceBox(x: 0.2, y: 0.3, width: 0.1, height: 0.2)).side == 1)
    }

    @Test("a 40000×30000 photo: exact integers and per-pixel paste without allocating the photo")
    func hugeImage() throws {
        let whole = try CropBox.wholeImage(width: 40000, height: 30000)
        #expect(whole == CropBox(x: 0, y: -5000, side: 40000))
        #expect(Golden.pattern.photoLabel(x: 39999, y: 29999, cropBox: whole) == Golden.pattern[223, 195])
        #expect(Golden.pattern.photoLabel(x: 0, y: 0, cropBox: whole) == Golden.pattern[0, 28])
        let box = try CropRule(k: 2.2, dx: 0, dy: -0.12).cropBox(for: FaceBox(x: 39000, y: 29000, width: 3000, height: 3500))
        #expect(box == CropBox(x: 36650, y: 26480, side: 7700))
        #expect(Golden.pattern.photoLabel(x: 39999, y: 29999, cropBox: box) == referenceLabel(Golden.pattern, x: 39999, y: 29999, box: box))
        #expect(Golden.pattern.photoLabel(x: 36649, y: 29999, cropBox: box) == .background)
    }

    @Test("a whole-image square centres the photo, with the odd pixel after it")
    func wholeImage() throws {
        #expect(try CropBox.wholeImage(width: 7, height: 4) == CropBox(x: 0, y: -1, side: 7))
        #expect(try CropBox.wholeImage(width: 4, height: 7) == CropBox(x: -1, y: 0, side: 7))
        for (width, height) in [(0, 5), (5, 0), (-1, -1)] {
            let error = #expect(throws: HairNetError.self) { try CropBox.wholeImage(width: width, height: height) }
            guard case .invalidImageSize(width, height)? = error else {
                Issue.record("expected invalidImageSize, got \(String(describing: error))")
                continue
            }
        }
        #expect(throws: HairNetError.self) { try Golden.pattern.pastedIntoPhoto(width: 0, height: 10, cropBox: CropBox(x: 0, y: 0, side: 10)) }
    }

    @Test("face boxes without area, with a non-finite value or beyond Int are refused",
          arguments: [
            FaceBox(x: 0, y: 0, width: 0, height: 10), FaceBox(x: 0, y: 0, width: 10, height: -1),
            FaceBox(x: .nan, y: 0, width: 10, height: 10), FaceBox(x: 0, y: .infinity, width: 10, height: 10),
            FaceBox(x: 0, y: 0, width: .infinity, height: 10), FaceBox(x: 0, y: 0, width: 1e300, height: 1e300),
            FaceBox(x: 1e19, y: 0, width: 10, height: 10),
          ])
    func invalidFaceBoxes(face: FaceBox) {
        let error = #expect(throws: HairNetError.self) { try CropRule(k: 2.2, dx: 0, dy: -0.12).cropBox(for: face) }
        guard case .invalidFaceBox? = error else {
            Issue.record("expected invalidFaceBox, got \(String(describing: error))")
            return
        }
    }

    @Test("Vision's normalised bottom-left boxes become top-left pixels")
    func visionBoxes() {
        let corner = FaceBox(visionBoundingBox: (x: 0, y: 0, width: 0.25, height: 0.5), imageWidth: 400, imageHeight: 300)
        #expect(corner == FaceBox(x: 0, y: 150, width: 100, height: 150))
        let top = FaceBox(visionBoundingBox: (x: 0.5, y: 0.75, width: 0.25, height: 0.25), imageWidth: 800, imageHeight: 600)
        #expect(top == FaceBox(x: 400, y: 0, width: 200, height: 150))
    }

    @Test("the crop rule reads hairnet.crop exactly as Python writes it, and refuses malformed ones")
    func cropRuleJSON() throws {
        // contract.CropRule.to_json: sorted keys, Python's float repr.
        let rule = try CropRule(json: #"{"dx": 0.05, "dy": -0.12, "k": 1.54}"#)
        #expect(rule.k == 1.54 && rule.dx == 0.05 && rule.dy == -0.12)
        for json in ["{}", "", "not json", "[2.2, 0, 0]", #"{"k": 2.2, "dx": 0}"#, #"{"k": 0, "dx": 0, "dy": 0}"#,
                     #"{"k": -1, "dx": 0, "dy": 0}"#, #"{"k": "2.2", "dx": 0, "dy": 0}"#] {
            let error = #expect(throws: HairNetError.self) { try CropRule(json: json) }
            guard case let .malformedMetadata(key, value, _)? = error else {
                Issue.record("expected malformedMetadata for \(json), got \(String(describing: error))")
                continue
            }
            #expect(key == "hairnet.crop" && value == json)
        }
        for (k, dx, dy) in [(0.0, 0.0, 0.0), (.infinity, 0, 0), (2, .nan, 0), (2, 0, -.infinity), (4.5, 0, 0), (2, 1.5, 0), (2, 0, -40)] {
            #expect(throws: HairNetError.self) { try CropRule(k: k, dx: dx, dy: dy) }
        }
    }
}
