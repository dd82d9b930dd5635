#if canImport(CoreML) && canImport(Vision)
import CoreGraphics
import HairNetCore
import ImageIO

/// What HairNet found for one face of a photo.
public struct HairAnalysis: Sendable {
    /// The face, in top-left-origin pixels of the upright photo.
    public let faceBox: CGRect
    /// The square the model saw, in top-left-origin pixels of the upright photo.
    public let cropBox: CropBox
    /// A label for every pixel of the upright photo; background outside ``cropBox``.
    public let labelMap: LabelMap
    public let hairColor: HairColorPrediction
    /// Straight, wavy, bangs and bald, in ``HairAttribute/allCases`` order.
    public let attributes: [AttributePrediction]
    /// Seconds per stage; face detection ran once for the whole photo and is repeated in each face.
    public let timings: StageTimings
}

extension LabelMap {
    /// The photo turned upright with hair and skin tinted over it, for display.
    ///
    /// - Parameters:
    ///   - photo: the image the map was computed on, as stored.
    ///   - orientation: the orientation passed to ``HairAnalyzer/analyze(_:orientation:)``.
    /// - Throws: ``HairNetError/invalidLabelMap(width:height:reason:)`` when the map does not
    ///   have the upright photo's size; ``HairNetError/imageRendering(_:)`` when CoreGraphics fails.
    public func overlay(
        on photo: CGImage, orientation: CGImagePropertyOrientation = .up,
        hair: OverlayColor = .hair, skin: OverlayColor = .skin
    ) throws -> CGImage {
        let imageOrientation = ImageOrientation(orientation)
        let upright = imageOrientation.uprightSize(width: photo.width, height: photo.height)
        guard upright.width == width, upright.height == height else {
            throw HairNetError.invalidLabelMap(
                width: width, height: height,
                reason: "does not cover the upright photo of \(upright.width)×\(upright.height)")
        }
        // RGBA, premultiplied alpha last, top row first in memory: the layout `tint` expects.
        guard let space = CGColorSpace(name: CGColorSpace.sRGB),
              let context = CGContext(
                  data: nil, width: width, height: height, bitsPerComponent: 8, bytesPerRow: 0, space: space,
                  bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue),
              let pixels = context.data
        else { throw HairNetError.imageRendering("cannot create a \(width)×\(height) RGBA context") }
        context.drawUpright(photo, orientation: imageOrientation, region: CGRect(x: 0, y: 0, width: width, height: height))
        tint(
            pixels: UnsafeMutableRawBufferPointer(start: pixels, count: context.bytesPerRow * height),
            bytesPerRow: context.bytesPerRow, hair: hair, skin: skin)
        guard let image = context.makeImage() else {
            throw HairNetError.imageRendering("cannot make an image of the \(width)×\(height) overlay")
        }
        return image
    }
}
#endif
