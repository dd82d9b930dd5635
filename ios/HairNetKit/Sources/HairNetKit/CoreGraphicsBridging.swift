#if canImport(CoreML) && canImport(Vision)
import CoreGraphics
import CoreML
import CoreVideo
import HairNetCore
import ImageIO

extension ImageOrientation {
    /// The same EXIF orientation: both types number orientations 1–8 alike.
    init(_ orientation: CGImagePropertyOrientation) {
        self = ImageOrientation(rawValue: orientation.rawValue) ?? .up
    }
}

extension CGContext {
    /// Draws `image` turned upright so that `region` of the upright image (top-left-origin
    /// pixels) fills this context; parts of the region outside the image are left untouched.
    func drawUpright(_ image: CGImage, orientation: ImageOrientation, region: CGRect) {
        let map = orientation.drawingTransform(
            storedWidth: image.width, storedHeight: image.height,
            region: (x: Double(region.minX), y: Double(region.minY), width: Double(region.width), height: Double(region.height)),
            canvasWidth: width, canvasHeight: height)
        saveGState()
        defer { restoreGState() }
        concatenate(CGAffineTransform(a: map.a, b: map.b, c: map.c, d: map.d, tx: map.tx, ty: map.ty))
        draw(image, in: CGRect(x: 0, y: 0, width: image.width, height: image.height))
    }
}

/// The model's input for `cropBox` of the upright image: a 224×224 BGRA buffer, resampled by
/// CoreGraphics, zero wherever the square lies outside the photo (as in Python).
func makeModelInput(from image: CGImage, orientation: ImageOrientation, cropBox: CropBox) throws -> CVPixelBuffer {
    let side = HairNetContract.inputSize
    let attributes = [
        kCVPixelBufferCGImageCompatibilityKey: true,
        kCVPixelBufferCGBitmapContextCompatibilityKey: true,
    ] as CFDictionary
    var buffer: CVPixelBuffer?
    guard CVPixelBufferCreate(kCFAllocatorDefault, side, side, kCVPixelFormatType_32BGRA, attributes, &buffer)
        == kCVReturnSuccess, let buffer
    else { throw HairNetError.imageRendering("cannot create a \(side)×\(side) BGRA pixel buffer") }
    CVPixelBufferLockBaseAddress(buffer, [])
    defer { CVPixelBufferUnlockBaseAddress(buffer, []) }
    // BGRA in memory is 32-bit little-endian ARGB.
    guard let space = CGColorSpace(name: CGColorSpace.sRGB),
          let context = CGContext(
              data: CVPixelBufferGetBaseAddress(buffer), width: side, height: side, bitsPerComponent: 8,
              bytesPerRow: CVPixelBufferGetBytesPerRow(buffer), space: space,
              bitmapInfo: CGImageAlphaInfo.premultipliedFirst.rawValue | CGBitmapInfo.byteOrder32Little.rawValue)
    else { throw HairNetError.imageRendering("cannot draw into the \(side)×\(side) pixel buffer") }
    // A new pixel buffer is not zeroed; outside the photo the crop must be.
    context.clear(CGRect(x: 0, y: 0, width: side, height: side))
    // Downscaling a large head needs the filtered resampling, like PIL's antialiased bilinear.
    context.interpolationQuality = .high
    context.drawUpright(
        image, orientation: orientation,
        region: CGRect(x: cropBox.x, y: cropBox.y, width: cropBox.side, height: cropBox.side))
    return buffer
}

extension OutputTensor {
    /// Reads `output` from a prediction, keeping the multi-array's own strides.
    init(_ output: ModelOutput, from features: any MLFeatureProvider) throws {
        guard let array = features.featureValue(for: output.rawValue)?.multiArrayValue else {
            throw HairNetError.modelInterface(feature: output.rawValue, expected: "a multi-array output")
        }
        // Strides are read inside each access: they describe the storage that access exposes.
        let (storage, strides): ([Float], [Int])
        switch array.dataType {
        case .float32:
            (storage, strides) = array.withUnsafeBufferPointer(ofType: Float.self) {
                (Array($0), array.strides.map(\.intValue))
            }
        case .float16:
            (storage, strides) = array.withUnsafeBytes {
                (OutputTensor.storage(float16Bytes: $0), array.strides.map(\.intValue))
            }
        case .double:
            (storage, strides) = array.withUnsafeBufferPointer(ofType: Double.self) {
                ($0.map { Float($0) }, array.strides.map(\.intValue))
            }
        default:
            throw HairNetError.unsupportedOutputType(output: output, dataType: "MLMultiArrayDataType(rawValue: \(array.dataType.rawValue))")
        }
        try self.init(output, shape: array.shape.map(\.intValue), strides: strides, storage: storage)
    }
}
#endif
