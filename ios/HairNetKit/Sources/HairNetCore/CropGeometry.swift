import Foundation

/// A face box in pixels of the upright photo, origin at the top-left corner.
public struct FaceBox: Sendable, Equatable, Codable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// Converts a Vision bounding box (normalised to the image, origin at the bottom-left
    /// corner) to top-left pixels of an image of `imageWidth × imageHeight`:
    /// (x·W, (1 − y − h)·H, w·W, h·H), the operations of `hairnet.postprocess.vision_box_to_pixels`.
    public init(
        visionBoundingBox box: (x: Double, y: Double, width: Double, height: Double),
        imageWidth: Int, imageHeight: Int
    ) {
        let (width, height) = (Double(imageWidth), Double(imageHeight))
        self.init(x: box.x * width, y: (1 - box.y - box.height) * height, width: box.width * width, height: box.height * height)
    }
}

/// A square region of the photo in whole pixels (top-left origin) that becomes the model's
/// input. It may extend past the photo's borders; the crop is zero there.
public struct CropBox: Sendable, Hashable {
    /// The left column, possibly negative.
    public let x: Int
    /// The top row, possibly negative.
    public let y: Int
    /// The side length, at least 1.
    public let side: Int

    init(x: Int, y: Int, side: Int) {
        self.x = x
        self.y = y
        self.side = side
    }

    /// The fallback when no face is found: the whole photo centred in a square of zeros,
    /// `hairnet.postprocess.whole_image_box`. (``HairAnalyzer`` reports no face instead.)
    public static func wholeImage(width: Int, height: Int) throws -> CropBox {
        guard width > 0, height > 0 else { throw HairNetError.invalidImageSize(width: width, height: height) }
        let side = Swift.max(width, height)
        return CropBox(x: -((side - width) / 2), y: -((side - height) / 2), side: side)
    }

    /// The crop row or column that photo coordinate `p` reads when a `cropSize`-pixel map is
    /// pasted back over the square starting at `origin`, or nil outside the square.
    ///
    /// Nearest neighbour on pixel centres, in integers as Python does:
    /// ⌊(2·(p − origin) + 1)·cropSize / (2·side)⌋.
    func cropIndex(of p: Int, origin: Int, cropSize: Int) -> Int? {
        let offset = Int64(p) - Int64(origin)
        guard offset >= 0, offset < Int64(side) else { return nil }
        return Int((2 * offset + 1) * Int64(cropSize) / (2 * Int64(side)))
    }
}

/// Face box → square head crop (DESIGN.md §4): centre (x + w/2 + dx·w, y + h/2 + dy·h),
/// side k·max(w, h), each rounded half up to whole pixels.
///
/// The constants are calibrated on aligned CelebA-HQ images and travel in the model's
/// `hairnet.crop` metadata, so that Python and Swift cut the same crops.
public struct CropRule: Sendable, Equatable {
    /// Side of the square as a multiple of the face box's longer side.
    public let k: Double
    /// Horizontal shift of the centre, in face-box widths.
    public let dx: Double
    /// Vertical shift of the centre, in face-box heights (negative moves up, towards the hair).
    public let dy: Double

    /// The largest `k`, and the largest offset in face sizes, a rule may have. The rule arrives in a
    /// model's metadata: beyond these a crop is no longer around the face (a wrong answer that
    /// looks like one), and Python cuts it at full resolution. `hairnet.contract.CropRule` agrees.
    public static let maxK = 4.0, maxOffset = 1.0

    /// - Throws: ``HairNetError/invalidCropRule(k:dx:dy:)`` unless 0 < k ≤ ``maxK`` and
    ///   |dx|, |dy| ≤ ``maxOffset``.
    public init(k: Double, dx: Double, dy: Double) throws {
        guard k > 0, k <= Self.maxK, abs(dx) <= Self.maxOffset, abs(dy) <= Self.maxOffset else {
            throw HairNetError.invalidCropRule(k: k, dx: dx, dy: dy)
        }
        self.k = k
        self.dx = dx
        self.dy = dy
    }

    /// Reads the `hairnet.crop` metadata value, a JSON object `{"k": …, "dx": …, "dy": …}`.
    ///
    /// - Throws: ``HairNetError/malformedMetadata(key:value:expected:)`` naming `hairnet.crop`.
    public init(json: String) throws {
        struct Constants: Decodable { let k, dx, dy: Double }
        let malformed = HairNetError.malformedMetadata(
            key: HairNetContract.Key.crop.rawValue, value: json,
            expected: #"a JSON object {"k": 0 < k ≤ 4, "dx": |dx| ≤ 1, "dy": |dy| ≤ 1}"#)
        guard let constants = try? JSONDecoder().decode(Constants.self, from: Data(json.utf8)),
              let rule = try? CropRule(k: constants.k, dx: constants.dx, dy: constants.dy)
        else { throw malformed }
        self = rule
    }

    /// The square head crop for `face`.
    ///
    /// The Double operations are those of `hairnet.postprocess.head_crop_box`, in the same
    /// order, so the integers agree with Python bit for bit.
    ///
    /// - Throws: ``HairNetError/invalidFaceBox(_:)`` for a non-finite or empty box, or one
    ///   whose crop does not fit in `Int`.
    public func cropBox(for face: FaceBox) throws -> CropBox {
        let (x, y, w, h) = (face.x, face.y, face.width, face.height)
        guard w > 0, h > 0, x.isFinite, y.isFinite, w.isFinite, h.isFinite else {
            throw HairNetError.invalidFaceBox(face)
        }
        let centreX = x + w / 2 + dx * w
        let centreY = y + h / 2 + dy * h
        guard let roundedSide = Self.roundHalfUp(k * Swift.max(w, h)) else { throw HairNetError.invalidFaceBox(face) }
        let side = Swift.max(1, roundedSide)
        guard let left = Self.roundHalfUp(centreX - Double(side) / 2),
              let top = Self.roundHalfUp(centreY - Double(side) / 2)
        else { throw HairNetError.invalidFaceBox(face) }
        return CropBox(x: left, y: top, side: side)
    }

    /// The crop's one rounding rule, ⌊v + 0.5⌋; nil when the result is not a representable Int.
    private static func roundHalfUp(_ value: Double) -> Int? {
        Int(exactly: (value + 0.5).rounded(.down))
    }
}
