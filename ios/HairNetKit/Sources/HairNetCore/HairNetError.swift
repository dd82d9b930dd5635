import Foundation

/// Every failure HairNetKit reports. Each case names the output, metadata key or value at fault,
/// so that a message read in a log is enough to find the cause.
public enum HairNetError: Error, Sendable {
    /// A model output whose shape is not the contract's (DESIGN.md §3).
    case outputShape(output: ModelOutput, expected: String, actual: [Int])
    /// A model output whose strides do not fit its shape, or index past its storage.
    case outputLayout(output: ModelOutput, shape: [Int], strides: [Int], storageCount: Int)
    /// `hair_color` or `attributes` containing NaN or an infinity.
    case nonFiniteOutput(output: ModelOutput, values: [Float])
    /// A metadata key the contract requires is absent from the model.
    case missingMetadata(key: String)
    /// A metadata value that does not have the form the contract requires.
    case malformedMetadata(key: String, value: String, expected: String)
    /// A face box with a non-finite coordinate, no area, or a size beyond integer pixels.
    case invalidFaceBox(FaceBox)
    /// An image size that is not positive.
    case invalidImageSize(width: Int, height: Int)
    /// A crop rule whose `k` is not in (0, ``CropRule/maxK``] or whose offsets exceed ``CropRule/maxOffset``.
    case invalidCropRule(k: Double, dx: Double, dy: Double)
    /// A label map whose labels do not fit its size or are not ``PixelLabel`` values.
    case invalidLabelMap(width: Int, height: Int, reason: String)
    /// A model file that is missing or of a kind Core ML cannot load.
    case invalidModelFile(path: String, reason: String)
    /// A model whose inputs or outputs are not those of the contract.
    case modelInterface(feature: String, expected: String)
    /// A multi-array output whose data type is not Float16, Float32 or Float64.
    case unsupportedOutputType(output: ModelOutput, dataType: String)
    /// CoreGraphics, CoreVideo or Core Image could not provide a buffer or an image.
    case imageRendering(String)
}

extension HairNetError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case let .outputShape(output, expected, actual):
            "model output '\(output)': expected shape \(expected), got \(actual)"
        case let .outputLayout(output, shape, strides, storageCount):
            "model output '\(output)': strides \(strides) do not fit shape \(shape) in \(storageCount) stored values"
        case let .nonFiniteOutput(output, values):
            "model output '\(output)': non-finite values \(values)"
        case let .missingMetadata(key):
            "model metadata: missing key '\(key)'"
        case let .malformedMetadata(key, value, expected):
            "model metadata '\(key)': expected \(expected), got '\(value)'"
        case let .invalidFaceBox(box):
            "face box (x: \(box.x), y: \(box.y), width: \(box.width), height: \(box.height)) "
                + "needs finite coordinates and a positive size"
        case let .invalidImageSize(width, height):
            "image size \(width)×\(height) is not positive"
        case let .invalidCropRule(k, dx, dy):
            "crop rule k: \(k), dx: \(dx), dy: \(dy) needs 0 < k ≤ \(CropRule.maxK) and |dx|, |dy| ≤ \(CropRule.maxOffset)"
        case let .invalidLabelMap(width, height, reason):
            "label map \(width)×\(height): \(reason)"
        case let .invalidModelFile(path, reason):
            "model file '\(path)': \(reason)"
        case let .modelInterface(feature, expected):
            "model feature '\(feature)': expected \(expected)"
        case let .unsupportedOutputType(output, dataType):
            "model output '\(output)': unsupported data type \(dataType)"
        case let .imageRendering(reason):
            "image rendering failed: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
