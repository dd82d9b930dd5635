/// The hair colours of the `hair_color` output, in its channel order.
public enum HairColor: String, Sendable, CaseIterable, Codable {
    case black, blond, brown, gray
}

/// The binary hair attributes of the `attributes` output, in its channel order.
public enum HairAttribute: String, Sendable, CaseIterable, Codable {
    case straight, wavy, bangs, bald
}

/// The decoded `hair_color` output.
public struct HairColorPrediction: Sendable, Equatable {
    /// The most probable colour (the first one when several tie).
    public let color: HairColor
    /// The probability of ``color``.
    public let probability: Float
    /// All four probabilities, in ``HairColor/allCases`` order.
    public let probabilities: [Float]

    /// Decodes a 1×4 `hair_color` output.
    ///
    /// - Throws: ``HairNetError/outputShape(output:expected:actual:)`` for another shape,
    ///   ``HairNetError/nonFiniteOutput(output:values:)`` when a value is NaN or infinite.
    public init(hairColor: OutputTensor) throws {
        let values = try hairColor.finiteVector()
        var best = 0
        for index in values.indices where values[index] > values[best] {
            best = index
        }
        color = HairColor.allCases[best]
        probability = values[best]
        probabilities = values
    }
}

/// One decoded binary attribute.
public struct AttributePrediction: Sendable, Equatable {
    public let attribute: HairAttribute
    /// The sigmoid output.
    public let probability: Float
    /// Whether ``probability`` exceeds the threshold (exactly the threshold is absent).
    public let isPresent: Bool

    /// Decodes a 1×4 `attributes` output into four predictions in ``HairAttribute/allCases`` order.
    ///
    /// Compared in Double, as `hairnet.postprocess.decode_attributes` does.
    ///
    /// - Throws: ``HairNetError/outputShape(output:expected:actual:)`` for another shape,
    ///   ``HairNetError/nonFiniteOutput(output:values:)`` when a value is NaN or infinite.
    public static func decode(_ attributes: OutputTensor, threshold: Double) throws -> [AttributePrediction] {
        try zip(HairAttribute.allCases, attributes.finiteVector()).map { attribute, probability in
            AttributePrediction(attribute: attribute, probability: probability, isPresent: Double(probability) > threshold)
        }
    }
}

/// The three outputs of one prediction, decoded; the label map is in crop space (224×224).
public struct DecodedOutputs: Sendable, Equatable {
    public let labelMap: LabelMap
    public let hairColor: HairColorPrediction
    /// Four predictions in ``HairAttribute/allCases`` order.
    public let attributes: [AttributePrediction]

    /// Decodes the model's outputs, checking each shape against the contract.
    ///
    /// - Parameter threshold: the contract's t of eq. 2 and of the attribute decisions.
    public init(segmentation: OutputTensor, hairColor: OutputTensor, attributes: OutputTensor, threshold: Double) throws {
        guard segmentation.shape == ModelOutput.segmentation.shape else {
            throw HairNetError.outputShape(
                output: segmentation.output, expected: "\(ModelOutput.segmentation.shape)", actual: segmentation.shape)
        }
        labelMap = try LabelMap(segmentation: segmentation, threshold: Float(threshold))
        self.hairColor = try HairColorPrediction(hairColor: hairColor)
        self.attributes = try AttributePrediction.decode(attributes, threshold: threshold)
    }
}
