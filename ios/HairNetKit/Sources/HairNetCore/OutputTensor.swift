/// The model's outputs, by their Core ML feature names (DESIGN.md §3).
public enum ModelOutput: String, Sendable, CaseIterable, CustomStringConvertible {
    /// 1×2×224×224 sigmoid probabilities; channel 0 skin, 1 hair.
    case segmentation
    /// 1×4 softmax over ``HairColor``.
    case hairColor = "hair_color"
    /// 1×4 sigmoids, one per ``HairAttribute``.
    case attributes

    /// The shape the contract gives this output for one image.
    public var shape: [Int] {
        switch self {
        case .segmentation: [1, 2, HairNetContract.inputSize, HairNetContract.inputSize]
        case .hairColor: [1, HairColor.allCases.count]
        case .attributes: [1, HairAttribute.allCases.count]
        }
    }

    public var description: String { rawValue }
}

/// One model output as Core ML hands it over: flat storage read through per-dimension strides.
///
/// The element at indices (i₀, …, iₙ₋₁) is `storage[i₀·strides[0] + … + iₙ₋₁·strides[n−1]]`,
/// which is how `MLMultiArray` lays out its data; strides need not describe a contiguous array,
/// but distinct indices must read distinct stored values.
public struct OutputTensor: Sendable {
    /// Which output this is, so that errors can name it.
    public let output: ModelOutput
    /// The size of each dimension.
    public let shape: [Int]
    /// The distance in elements between neighbours along each dimension.
    public let strides: [Int]
    /// The stored values, padding included.
    public let storage: [Float]

    /// Wraps strided storage, checking that every index within `shape` lands inside `storage`
    /// and that no two indices share a stored value.
    ///
    /// - Throws: ``HairNetError/outputLayout(output:shape:strides:storageCount:)`` when the
    ///   strides do not match the shape's rank, are negative, reach past the storage, or overlap.
    public init(_ output: ModelOutput, shape: [Int], strides: [Int], storage: [Float]) throws {
        let layoutError = HairNetError.outputLayout(
            output: output, shape: shape, strides: strides, storageCount: storage.count)
        guard shape.count == strides.count, !shape.contains(where: { $0 < 0 }),
              !strides.contains(where: { $0 < 0 })
        else { throw layoutError }
        // An output with a zero-sized dimension holds no elements; its shape check reports it.
        if !shape.contains(0) {
            var lastOffset = 0
            for (size, stride) in zip(shape, strides) {
                let (step, stepOverflow) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, sumOverflow) = lastOffset.addingReportingOverflow(step)
                guard !stepOverflow, !sumOverflow else { throw layoutError }
                lastOffset = sum
            }
            guard lastOffset < storage.count else { throw layoutError }
            // MLMultiArray layouts never overlap (contiguous or padded, in any dimension order).
            // Overlapping strides (zero, say) would let a few stored values pose as a tensor of
            // billions of elements, and decoding would allocate for all of them (found by
            // fuzzing): ordered by stride, each dimension must step past what the smaller span.
            var span = 1
            for (size, stride) in zip(shape, strides).filter({ $0.0 > 1 }).sorted(by: { $0.1 < $1.1 }) {
                guard stride >= span else { throw layoutError }
                span = stride * size  // ≤ lastOffset + stride < storage.count + stride: no overflow
            }
        }
        self.output = output
        self.shape = shape
        self.strides = strides
        self.storage = storage
    }

    /// Wraps values laid out contiguously in row-major order.
    public init(_ output: ModelOutput, shape: [Int], values: [Float]) throws {
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in strides.indices.dropLast().reversed() {
            strides[axis] = strides[axis + 1] * Swift.max(shape[axis + 1], 1)
        }
        try self.init(output, shape: shape, strides: strides, storage: values)
    }

    /// Converts IEEE 754 half-precision storage (as Core ML's Float16 multi-arrays hold it) to
    /// Float. Done bit by bit because Swift's `Float16` does not exist on Intel Macs.
    package static func storage(float16Bytes bytes: UnsafeRawBufferPointer) -> [Float] {
        (0 ..< bytes.count / 2).map { index in
            Self.float(fromHalfBits: bytes.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
        }
    }

    /// Half → single precision; exact, since every half value is a float value.
    static func float(fromHalfBits bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:  // zero or subnormal: mantissa · 2⁻²⁴
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:  // infinity or NaN, payload kept
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:  // rebias the exponent from 15 to 127
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }

    /// The values of a 1×N output in order, checked against the contract's shape and for
    /// finiteness (NaN in a probability means the model or its input is broken).
    func finiteVector() throws -> [Float] {
        guard shape == output.shape else {
            throw HairNetError.outputShape(output: output, expected: "\(output.shape)", actual: shape)
        }
        let values = (0 ..< shape[1]).map { storage[$0 * strides[1]] }
        guard values.allSatisfy(\.isFinite) else {
            throw HairNetError.nonFiniteOutput(output: output, values: values)
        }
        return values
    }
}
