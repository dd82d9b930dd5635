import Foundation

/// What a HairNet Core ML package promises (DESIGN.md §5), read from its user-defined metadata.
///
/// A package that lacks a key, or whose fixed values differ (another channel order, another
/// normalisation), would be decoded wrongly without any visible failure, so reading refuses it.
public struct HairNetContract: Sendable, Equatable {
    /// The contract version this library reads.
    public static let version = "1"
    /// The name of the image input.
    public static let inputName = "image"
    /// The side of the square RGB input and of the segmentation output.
    public static let inputSize = 224

    /// The metadata keys, in the order DESIGN.md §5 lists them.
    public enum Key: String, Sendable, CaseIterable {
        case contractVersion = "hairnet.contract_version"
        case segmentationChannels = "hairnet.segmentation_channels"
        case hairColors = "hairnet.hair_colors"
        case attributes = "hairnet.attributes"
        case threshold = "hairnet.threshold"
        case inputNormalization = "hairnet.input_normalization"
        case crop = "hairnet.crop"
        case trainingData = "hairnet.training_data"
        /// Optional.
        case evaluation = "hairnet.evaluation"
    }

    /// Values that must match exactly: they fix how the outputs are read.
    static let fixedValues: [Key: String] = [
        .contractVersion: version,
        .segmentationChannels: "skin,hair",
        .hairColors: HairColor.allCases.map(\.rawValue).joined(separator: ","),
        .attributes: HairAttribute.allCases.map(\.rawValue).joined(separator: ","),
        .inputNormalization: "x/127.5-1",
    ]

    /// The t of eq. 2 and of the attribute decisions, in (0, 1).
    public let threshold: Double
    /// How face boxes become crops.
    public let cropRule: CropRule
    /// What the weights were trained on, and the licence they inherit.
    public let trainingData: String
    /// The checkpoint's evaluation figures as a JSON object, when the package carries them.
    public let evaluationJSON: String?

    /// Reads and checks the contract.
    ///
    /// - Parameter metadata: the model's user-defined metadata
    ///   (`MLModelDescription.metadata[.creatorDefinedKey]`).
    /// - Throws: ``HairNetError/missingMetadata(key:)`` naming the first required key that is
    ///   absent, or ``HairNetError/malformedMetadata(key:value:expected:)`` naming the key, its
    ///   value and what was expected.
    public init(metadata: [String: String]) throws {
        for key in Key.allCases where key != .evaluation && metadata[key.rawValue] == nil {
            throw HairNetError.missingMetadata(key: key.rawValue)
        }
        let value = { (key: Key) in metadata[key.rawValue] ?? "" }
        func malformed(_ key: Key, expected: String) -> HairNetError {
            .malformedMetadata(key: key.rawValue, value: value(key), expected: expected)
        }
        for key in Key.allCases {
            if let fixed = Self.fixedValues[key], value(key) != fixed {
                throw malformed(key, expected: "\"\(fixed)\"")
            }
        }
        guard let threshold = Double(value(.threshold)), threshold > 0, threshold < 1 else {
            throw malformed(.threshold, expected: "a number in (0, 1)")
        }
        self.threshold = threshold
        cropRule = try CropRule(json: value(.crop))
        trainingData = value(.trainingData)
        guard !trainingData.allSatisfy(\.isWhitespace) else {
            throw malformed(.trainingData, expected: "a description of the training data and its licence")
        }
        evaluationJSON = metadata[Key.evaluation.rawValue]
        if let evaluationJSON,
           (try? JSONSerialization.jsonObject(with: Data(evaluationJSON.utf8))) as? [String: Any] == nil {
            throw malformed(.evaluation, expected: "a JSON object")
        }
    }
}
