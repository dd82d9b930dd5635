/// How a stored image is turned to be seen upright: the EXIF orientation values 1–8, numbered
/// as `CGImagePropertyOrientation` numbers them, so `ImageOrientation(rawValue: cg.rawValue)`
/// converts.
public enum ImageOrientation: UInt32, Sendable, CaseIterable, Codable {
    /// Stored upright.
    case up = 1
    /// Stored mirrored left to right.
    case upMirrored = 2
    /// Stored rotated 180°.
    case down = 3
    /// Stored mirrored top to bottom.
    case downMirrored = 4
    /// Stored transposed (mirrored, then rotated 90° counter-clockwise).
    case leftMirrored = 5
    /// Stored rotated 90° counter-clockwise; shown by turning it 90° clockwise (portrait iPhone photos).
    case right = 6
    /// Stored transversed (mirrored, then rotated 90° clockwise).
    case rightMirrored = 7
    /// Stored rotated 90° clockwise; shown by turning it 90° counter-clockwise.
    case left = 8

    /// The orientation an image's EXIF `Orientation` tag (0x0112) asks for; a missing tag or a
    /// value outside 1–8 means the picture is shown as stored (`.up`), as image viewers and
    /// `hairnet predict` (Pillow's `exif_transpose`) treat it. Pass the result's `rawValue` to
    /// `CGImagePropertyOrientation(rawValue:)` for Vision and ``HairAnalyzer``.
    public init(exifValue: Int?) {
        self = exifValue.flatMap { UInt32(exactly: $0) }.flatMap(Self.init(rawValue:)) ?? .up
    }

    /// Whether turning the image upright swaps its width and height (orientations 5–8).
    public var swapsWidthAndHeight: Bool { rawValue >= 5 }

    /// The size of the upright image given the stored one.
    public func uprightSize(width: Int, height: Int) -> (width: Int, height: Int) {
        swapsWidthAndHeight ? (height, width) : (width, height)
    }

    /// Maps stored top-left pixel coordinates (continuous, so corners map to corners) of a
    /// `storedWidth × storedHeight` image to upright top-left coordinates.
    package func uprightTransform(storedWidth w: Double, storedHeight h: Double) -> AffineMap {
        switch self {
        case .up: AffineMap(a: 1, b: 0, c: 0, d: 1, tx: 0, ty: 0)
        case .upMirrored: AffineMap(a: -1, b: 0, c: 0, d: 1, tx: w, ty: 0)
        case .down: AffineMap(a: -1, b: 0, c: 0, d: -1, tx: w, ty: h)
        case .downMirrored: AffineMap(a: 1, b: 0, c: 0, d: -1, tx: 0, ty: h)
        case .leftMirrored: AffineMap(a: 0, b: 1, c: 1, d: 0, tx: 0, ty: 0)
        case .right: AffineMap(a: 0, b: 1, c: -1, d: 0, tx: h, ty: 0)
        case .rightMirrored: AffineMap(a: 0, b: -1, c: -1, d: 0, tx: h, ty: w)
        case .left: AffineMap(a: 0, b: -1, c: 1, d: 0, tx: 0, ty: w)
        }
    }

    /// The transform to concatenate onto a fresh CoreGraphics bitmap context (y up, one unit
    /// per pixel, `canvasWidth × canvasHeight`) before drawing the stored image into
    /// (0, 0, storedWidth, storedHeight), so that `region` of the upright image (top-left
    /// pixels) fills the canvas: stored y-up → stored top-left → upright → canvas top-left → canvas y-up.
    package func drawingTransform(
        storedWidth: Int, storedHeight: Int,
        region: (x: Double, y: Double, width: Double, height: Double),
        canvasWidth: Int, canvasHeight: Int
    ) -> AffineMap {
        let (w, h) = (Double(storedWidth), Double(storedHeight))
        let (cw, ch) = (Double(canvasWidth), Double(canvasHeight))
        let (sx, sy) = (cw / region.width, ch / region.height)
        return AffineMap(a: 1, b: 0, c: 0, d: -1, tx: 0, ty: h)
            .then(uprightTransform(storedWidth: w, storedHeight: h))
            .then(AffineMap(a: sx, b: 0, c: 0, d: sy, tx: -region.x * sx, ty: -region.y * sy))
            .then(AffineMap(a: 1, b: 0, c: 0, d: -1, tx: 0, ty: ch))
    }
}

/// A 2-D affine map with CoreGraphics' coefficient names: (x, y) → (a·x + c·y + tx, b·x + d·y + ty).
package struct AffineMap: Equatable, Sendable {
    package var a, b, c, d, tx, ty: Double

    package init(a: Double, b: Double, c: Double, d: Double, tx: Double, ty: Double) {
        (self.a, self.b, self.c, self.d, self.tx, self.ty) = (a, b, c, d, tx, ty)
    }

    package func apply(x: Double, y: Double) -> (x: Double, y: Double) {
        (a * x + c * y + tx, b * x + d * y + ty)
    }

    /// `self` first, then `next` (the order of `CGAffineTransform.concatenating`).
    package func then(_ next: AffineMap) -> AffineMap {
        AffineMap(
            a: next.a * a + next.c * b, b: next.b * a + next.d * b,
            c: next.a * c + next.c * d, d: next.b * c + next.d * d,
            tx: next.a * tx + next.c * ty + next.tx, ty: next.b * tx + next.d * ty + next.ty)
    }
}
