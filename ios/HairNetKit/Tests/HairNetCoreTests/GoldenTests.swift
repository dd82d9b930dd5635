import Foundation
import Testing
@testable import HairNetCore

/// The golden vectors `python -m hairnet.golden` writes into tests/golden/ (DESIGN.md §6):
/// Swift must agree with Python exactly on every case.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // HairNetCoreTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // HairNetKit
        .deletingLastPathComponent()  // ios
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("tests/golden", isDirectory: true)

    static func load<File: Decodable>(_ name: String, as type: File.Type) throws -> File {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        // JSON has no NaN: golden.py writes non-finite floats as these strings.
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(File.self, from: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    struct LabelMapFile: Decodable { let cases: [LabelMapCase] }
    struct LabelMapCase: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let threshold: Double
        let shape: [Int]
        let strides: [Int]
        let values: [Float]
        let labels: [UInt8]
        var testDescription: String { name }
    }

    struct AttributesFile: Decodable { let colors: [String]; let attributes: [String]; let cases: [AttributeCase] }
    struct AttributeCase: Decodable, Sendable, CustomTestStringConvertible {
        struct Expected: Decodable, Sendable {
            let color: String
            let colorIndex: Int
            let colorProbability: Float
            let present: [Bool]
        }
        let name: String
        let hairColor: [Float]
        let attributes: [Float]
        let expected: Expected?
        let error: String?
        var testDescription: String { name }
    }

    struct CropFile: Decodable { let inputSize: Int; let cases: [CropCase] }
    struct CropCase: Decodable, Sendable, CustomTestStringConvertible {
        struct Rule: Decodable, Sendable { let k, dx, dy: Double }
        let name: String
        let kind: String
        let rule: Rule?
        let image: [Int]
        let faceBox: [Double]?
        let visionBox: [Double]?
        let crop: [Int]
        let pasteSamples: [[Int]]
        var testDescription: String { name }
    }

    static func labelMapCases() throws -> [LabelMapCase] { try load("label_map.json", as: LabelMapFile.self).cases }
    static func attributeCases() throws -> [AttributeCase] { try load("attributes.json", as: AttributesFile.self).cases }
    static func cropCases() throws -> [CropCase] { try load("crop.json", as: CropFile.self).cases }

    /// The pattern golden.py pastes back: label[r][c] = (7r + 3c) mod 3, every cell unlike its neighbours.
    static let pattern: LabelMap = {
        let size = HairNetContract.inputSize
        let labels = (0 ..< size * size).map { UInt8((7 * ($0 / size) + 3 * ($0 % size)) % 3) }
        return try! LabelMap(width: size, height: size, labels: labels)
    }()
}

@Suite("Golden vectors")
struct GoldenTests {
    @Test("the golden files hold every kind of case Python writes")
    func filesAreComplete() throws {
        let labelMaps = try Golden.labelMapCases()
        #expect(labelMaps.contains { $0.values.contains(where: \.isNaN) })
        #expect(labelMaps.contains { $0.strides[2] > $0.shape[3] })  // padded rows
        let attributes = try Golden.load("attributes.json", as: Golden.AttributesFile.self)
        #expect(attributes.colors == HairColor.allCases.map(\.rawValue))
        #expect(attributes.attributes == HairAttribute.allCases.map(\.rawValue))
        #expect(attributes.cases.contains { $0.error != nil })
        let crop = try Golden.load("crop.json", as: Golden.CropFile.self)
        #expect(crop.inputSize == HairNetContract.inputSize)
        #expect(Set(crop.cases.map(\.kind)) == ["face", "vision", "whole_image"])
        #expect(crop.cases.allSatisfy { !$0.pasteSamples.isEmpty })
    }

    @Test("eq. 2 label maps", arguments: try Golden.labelMapCases())
    func labelMap(_ golden: Golden.LabelMapCase) throws {
        let tensor = try OutputTensor(.segmentation, shape: golden.shape, strides: golden.strides, storage: golden.values)
        let map = try LabelMap(segmentation: tensor, threshold: Float(golden.threshold))
        #expect(map.width == golden.shape[3])
        #expect(map.height == golden.shape[2])
        #expect(map.labels == golden.labels)
    }

    @Test("hair colour and attribute decisions", arguments: try Golden.attributeCases())
    func attributes(_ golden: Golden.AttributeCase) throws {
        let hairColor = try OutputTensor(.hairColor, shape: [1, 4], values: golden.hairColor)
        let attributes = try OutputTensor(.attributes, shape: [1, 4], values: golden.attributes)
        // Python checks hair_color before attributes; so does this order.
        let decode = {
            (try HairColorPrediction(hairColor: hairColor), try AttributePrediction.decode(attributes, threshold: 0.5))
        }
        guard let expected = golden.expected else {
            #expect(golden.error == "non-finite")
            let error = #expect(throws: HairNetError.self) { try decode() }
            let culprit: ModelOutput = golden.hairColor.allSatisfy(\.isFinite) ? .attributes : .hairColor
            guard case .nonFiniteOutput(culprit, _)? = error else {
                Issue.record("expected nonFiniteOutput(\(culprit)), got \(String(describing: error))")
                return
            }
            return
        }
        let (color, decisions) = try decode()
        #expect(color.color.rawValue == expected.color)
        #expect(HairColor.allCases.firstIndex(of: color.color) == expected.colorIndex)
        #expect(color.probability == expected.colorProbability)
        #expect(color.probabilities == golden.hairColor)
        #expect(decisions.map(\.isPresent) == expected.present)
        #expect(decisions.map(\.probability) == golden.attributes)
        #expect(decisions.map(\.attribute) == HairAttribute.allCases)
    }

    @Test("crop rectangles, Vision boxes and paste-back", arguments: try Golden.cropCases())
    func crop(_ golden: Golden.CropCase) throws {
        let (width, height) = (golden.image[0], golden.image[1])
        let box: CropBox
        switch golden.kind {
        case "whole_image":
            box = try CropBox.wholeImage(width: width, height: height)
        case "face", "vision":
            let rule = try #require(golden.rule)
            let expectedFace = try #require(golden.faceBox)
            var face = FaceBox(x: expectedFace[0], y: expectedFace[1], width: expectedFace[2], height: expectedFace[3])
            if let vision = golden.visionBox {
                face = FaceBox(
                    visionBoundingBox: (x: vision[0], y: vision[1], width: vision[2], height: vision[3]),
                    imageWidth: width, imageHeight: height)
                for (swift, python) in zip([face.x, face.y, face.width, face.height], expectedFace) {
                    #expect(abs(swift - python) <= 1e-6)
                }
            }
            box = try CropRule(k: rule.k, dx: rule.dx, dy: rule.dy).cropBox(for: face)
        default:
            Issue.record("unknown case kind \(golden.kind)")
            return
        }
        #expect([box.x, box.y, box.side] == golden.crop)

        for sample in golden.pasteSamples {
            let (x, y, label) = (sample[0], sample[1], sample[2])
            #expect(Golden.pattern.photoLabel(x: x, y: y, cropBox: box).rawValue == label, "pixel (\(x), \(y))")
        }
        // The whole-photo paste must agree too, where the photo is small enough to allocate.
        if width * height <= 2_000_000 {
            let pasted = try Golden.pattern.pastedIntoPhoto(width: width, height: height, cropBox: box)
            for sample in golden.pasteSamples {
                #expect(pasted[sample[0], sample[1]].rawValue == sample[2], "pixel (\(sample[0]), \(sample[1]))")
            }
        }
    }
}
