/// What a pixel shows; the raw values are those stored in ``LabelMap/labels``.
public enum PixelLabel: UInt8, Sendable, CaseIterable {
    case background = 0
    case skin = 1
    case hair = 2
}

/// A colour and opacity for tinting one label in an overlay.
public struct OverlayColor: Sendable, Equatable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8
    /// 0 leaves the photo as it is, 1 paints the colour over it.
    public var opacity: Double

    public init(red: UInt8, green: UInt8, blue: UInt8, opacity: Double) {
        self.red = red
        self.green = green
        self.blue = blue
        self.opacity = opacity
    }

    /// The default hair tint: magenta at 55 %.
    public static let hair = OverlayColor(red: 255, green: 40, blue: 150, opacity: 0.55)
    /// The default skin tint: light blue at 35 %.
    public static let skin = OverlayColor(red: 40, green: 170, blue: 255, opacity: 0.35)
}

/// Per-pixel labels (background, skin, hair), row-major with the top row first.
public struct LabelMap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width × height` ``PixelLabel`` raw values; pixel (x, y) is at `y * width + x`.
    public let labels: [UInt8]

    /// Wraps labels, checking that there are `width × height` of them and each is a ``PixelLabel``.
    public init(width: Int, height: Int, labels: [UInt8]) throws {
        guard width > 0, height > 0 else { throw HairNetError.invalidImageSize(width: width, height: height) }
        let (count, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, labels.count == count else {
            throw HairNetError.invalidLabelMap(
                width: width, height: height, reason: "holds \(labels.count) labels, not width × height")
        }
        if let bad = labels.first(where: { PixelLabel(rawValue: $0) == nil }) {
            throw HairNetError.invalidLabelMap(
                width: width, height: height, reason: "label value \(bad) is not a PixelLabel")
        }
        self.init(checkedWidth: width, height: height, labels: labels)
    }

    private init(checkedWidth width: Int, height: Int, labels: [UInt8]) {
        self.width = width
        self.height = height
        self.labels = labels
    }

    /// The label of pixel (x, y); both must be inside the map.
    public subscript(x: Int, y: Int) -> PixelLabel {
        precondition((0 ..< width).contains(x) && (0 ..< height).contains(y), "pixel (\(x), \(y)) outside the map")
        // Every initialiser admits only PixelLabel raw values.
        return PixelLabel(rawValue: labels[y * width + x])!
    }

    /// Eq. 2 of the paper on a 1×2×H×W probability map (channel 0 skin, 1 hair).
    ///
    /// A pixel is hair when hair ≥ skin and hair > t, skin when skin > hair and skin > t, and
    /// background otherwise; ties go to hair. A NaN fails every comparison, so a pixel whose
    /// winning channel is NaN is background, exactly as `hairnet.postprocess.label_map` does.
    /// The comparisons are in Float because NumPy compares float32 probabilities with a Python
    /// float threshold in float32.
    ///
    /// - Throws: ``HairNetError/outputShape(output:expected:actual:)`` unless the shape is
    ///   [1, 2, H, W] with H, W ≥ 1.
    public init(segmentation: OutputTensor, threshold: Float) throws {
        let shape = segmentation.shape
        guard shape.count == 4, shape[0] == 1, shape[1] == 2, shape[2] > 0, shape[3] > 0 else {
            throw HairNetError.outputShape(
                output: segmentation.output, expected: "[1, 2, H, W] with H, W ≥ 1", actual: shape)
        }
        let (height, width) = (shape[2], shape[3])
        let strides = segmentation.strides
        var labels = [UInt8](repeating: PixelLabel.background.rawValue, count: width * height)
        segmentation.storage.withUnsafeBufferPointer { storage in
            for y in 0 ..< height {
                for x in 0 ..< width {
                    let skinOffset = y * strides[2] + x * strides[3]
                    let skin = storage[skinOffset]
                    let hair = storage[skinOffset + strides[1]]
                    let label: PixelLabel =
                        if hair >= skin && hair > threshold { .hair }
                        else if skin > hair && skin > threshold { .skin }
                        else { .background }
                    labels[y * width + x] = label.rawValue
                }
            }
        }
        self.init(checkedWidth: width, height: height, labels: labels)
    }

    /// The label that photo pixel (x, y) gets when this crop-space map is pasted back through
    /// `cropBox`: nearest neighbour, background outside the square (DESIGN.md §4).
    public func photoLabel(x: Int, y: Int, cropBox: CropBox) -> PixelLabel {
        guard let column = cropBox.cropIndex(of: x, origin: cropBox.x, cropSize: width),
              let row = cropBox.cropIndex(of: y, origin: cropBox.y, cropSize: height)
        else { return .background }
        return self[column, row]
    }

    /// This crop-space map pasted back onto a photo of `width × height` pixels through
    /// `cropBox`: the photo-sized map, background outside the square.
    public func pastedIntoPhoto(width photoWidth: Int, height photoHeight: Int, cropBox: CropBox) throws -> LabelMap {
        guard photoWidth > 0, photoHeight > 0 else {
            throw HairNetError.invalidImageSize(width: photoWidth, height: photoHeight)
        }
        let columns = (0 ..< photoWidth).map { cropBox.cropIndex(of: $0, origin: cropBox.x, cropSize: width) }
        var pasted = [UInt8](repeating: PixelLabel.background.rawValue, count: photoWidth * photoHeight)
        for y in 0 ..< photoHeight {
            guard let row = cropBox.cropIndex(of: y, origin: cropBox.y, cropSize: height) else { continue }
            for (x, column) in columns.enumerated() {
                if let column { pasted[y * photoWidth + x] = labels[row * width + column] }
            }
        }
        return LabelMap(checkedWidth: photoWidth, height: photoHeight, labels: pasted)
    }

    /// Tints hair and skin pixels of an image this map covers, in place.
    ///
    /// `pixels` is 8-bit RGBA with premultiplied alpha last, top row first, `bytesPerRow`
    /// bytes a row; the tint is composited source-over with its opacity.
    package func tint(pixels: UnsafeMutableRawBufferPointer, bytesPerRow: Int, hair: OverlayColor, skin: OverlayColor) {
        precondition(bytesPerRow >= 4 * width && pixels.count >= bytesPerRow * (height - 1) + 4 * width)
        // Premultiplied source-over: out = colour · a + photo · (1 − a), alpha channel included.
        func premultiplied(_ color: OverlayColor) -> (rgba: [Double], alpha: Double) {
            let alpha = Swift.min(Swift.max(color.opacity, 0), 1)
            return ([Double(color.red), Double(color.green), Double(color.blue), 255].map { $0 * alpha }, alpha)
        }
        let skinTint = premultiplied(skin), hairTint = premultiplied(hair)
        for y in 0 ..< height {
            for x in 0 ..< width {
                let label = self[x, y]
                guard label != .background else { continue }
                let tint = label == .hair ? hairTint : skinTint
                let pixel = y * bytesPerRow + 4 * x
                for channel in 0 ..< 4 {
                    let blended = tint.rgba[channel] + Double(pixels[pixel + channel]) * (1 - tint.alpha)
                    pixels[pixel + channel] = UInt8(blended.rounded())
                }
            }
        }
    }
}
