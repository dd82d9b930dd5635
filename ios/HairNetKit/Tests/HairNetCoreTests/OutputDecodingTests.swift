import Testing
@testable import HairNetCore

@Suite("Output decoding")
struct OutputDecodingTests {
    /// A contiguous 1×2×H×W probability map from per-pixel skin and hair values (row-major).
    private func segmentation(height: Int, width: Int, skin: [Float], hair: [Float]) throws -> OutputTensor {
        try OutputTensor(.segmentation, shape: [1, 2, height, width], values: skin + hair)
    }

    @Test("layouts that do not fit their storage are typed errors naming the output")
    func layoutErrors() {
        let layouts: [(shape: [Int], strides: [Int], count: Int)] = [
            ([1, 4], [4, 1], 0),  // empty storage
            ([1, 4], [4, 1], 3),  // one value short
            ([1, 4], [1], 4),  // strides of another rank
            ([1, 4], [4, -1], 4),  // negative stride
            ([1, -4], [4, 1], 4),  // negative size
            ([3, 4], [Int.max, 1], 4),  // offset overflows Int
            // Overlapping layouts: a few values posing as a huge tensor. The first is a fuzzing
            // finding (ios/Fuzz): decoding it allocated a 2×939,524,098 label map.
            ([1, 2, 2, 939_524_098], [8, 4, 0, 0], 12),
            ([1, 2, 1 << 20, 1 << 20], [0, 0, 0, 0], 1),
            ([1, 4], [4, 0], 4),
            ([2, 3], [2, 1], 6),  // rows overlap by one value
        ]
        for layout in layouts {
            let error = #expect(throws: HairNetError.self) {
                try OutputTensor(.hairColor, shape: layout.shape, strides: layout.strides, storage: Array(repeating: 0.25, count: layout.count))
            }
            guard case let .outputLayout(output, shape, strides, storageCount)? = error else {
                Issue.record("expected an outputLayout error for \(layout), got \(String(describing: error))")
                continue
            }
            #expect(output == .hairColor && shape == layout.shape && strides == layout.strides && storageCount == layout.count)
        }
    }

    @Test("empty and wrongly shaped outputs are typed errors naming the output and the shape")
    func shapeErrors() throws {
        let cases: [(ModelOutput, [Int], () throws -> Void)] = [
            (.hairColor, [1, 0], { _ = try HairColorPrediction(hairColor: OutputTensor(.hairColor, shape: [1, 0], values: [])) }),
            (.hairColor, [4], { _ = try HairColorPrediction(hairColor: OutputTensor(.hairColor, shape: [4], values: [0.25, 0.25, 0.25, 0.25])) }),
            (.attributes, [1, 5], { _ = try AttributePrediction.decode(OutputTensor(.attributes, shape: [1, 5], values: [0, 0, 0, 0, 0]), threshold: 0.5) }),
            (.segmentation, [1, 2, 0, 0], { _ = try LabelMap(segmentation: OutputTensor(.segmentation, shape: [1, 2, 0, 0], values: []), threshold: 0.5) }),
            (.segmentation, [1, 3, 1, 1], { _ = try LabelMap(segmentation: OutputTensor(.segmentation, shape: [1, 3, 1, 1], values: [0, 0, 0]), threshold: 0.5) }),
            (.segmentation, [2, 1, 1], { _ = try LabelMap(segmentation: OutputTensor(.segmentation, shape: [2, 1, 1], values: [0, 0]), threshold: 0.5) }),
        ]
        for (expectedOutput, expectedShape, decode) in cases {
            let error = #expect(throws: HairNetError.self) { try decode() }
            guard case let .outputShape(output, _, actual)? = error else {
                Issue.record("expected an outputShape error for \(expectedShape), got \(String(describing: error))")
                continue
            }
            #expect(output == expectedOutput && actual == expectedShape)
            #expect(error?.description.contains("'\(expectedOutput.rawValue)'") == true)
        }
    }

    @Test("a model-sized decode rejects a segmentation that is not 1×2×224×224")
    func decodedOutputsCheckTheContractShape() throws {
        let small = try segmentation(height: 7, width: 5, skin: Array(repeating: 0, count: 35), hair: Array(repeating: 1, count: 35))
        let color = try OutputTensor(.hairColor, shape: [1, 4], values: [0.1, 0.2, 0.3, 0.4])
        let attributes = try OutputTensor(.attributes, shape: [1, 4], values: [0.1, 0.6, 0.5, 0.9])
        let error = #expect(throws: HairNetError.self) {
            try DecodedOutputs(segmentation: small, hairColor: color, attributes: attributes, threshold: 0.5)
        }
        guard case let .outputShape(output, expected, actual)? = error else {
            Issue.record("expected an outputShape error, got \(String(describing: error))")
            return
        }
        #expect(output == .segmentation && expected == "[1, 2, 224, 224]" && actual == [1, 2, 7, 5])
    }

    @Test("a full-size prediction decodes: labels, colour argmax, attribute decisions")
    func decodedOutputs() throws {
        let side = HairNetContract.inputSize
        // Top half hair, bottom half skin, except one NaN row of hair in the middle.
        var skin = [Float](repeating: 0, count: side * side), hair = skin
        for row in 0 ..< side {
            for column in 0 ..< side {
                let index = row * side + column
                if row < side / 2 { hair[index] = 0.9 } else { skin[index] = 0.8 }
                if row == side / 2 { (skin[index], hair[index]) = (.nan, 0.95) }
            }
        }
        let decoded = try DecodedOutputs(
            segmentation: segmentation(height: side, width: side, skin: skin, hair: hair),
            hairColor: OutputTensor(.hairColor, shape: [1, 4], values: [0.1, 0.2, 0.6, 0.1]),
            attributes: OutputTensor(.attributes, shape: [1, 4], values: [0.7, 0.2, 0.5, 0.50001]),
            threshold: 0.5)
        let counts = Dictionary(grouping: decoded.labelMap.labels, by: { $0 }).mapValues(\.count)
        #expect(counts[PixelLabel.hair.rawValue] == side * side / 2)
        #expect(counts[PixelLabel.skin.rawValue] == side * side / 2 - side)
        #expect(counts[PixelLabel.background.rawValue] == side)
        #expect(decoded.hairColor.color == .brown && decoded.hairColor.probability == 0.6)
        #expect(decoded.attributes.map(\.isPresent) == [true, false, false, true])
    }

    @Test("NaN or infinite colour and attribute outputs are errors; NaN pixels are background")
    func nonFiniteOutputs() throws {
        let finite = try OutputTensor(.hairColor, shape: [1, 4], values: [0.1, 0.2, 0.3, 0.4])
        let colorError = #expect(throws: HairNetError.self) {
            try HairColorPrediction(hairColor: OutputTensor(.hairColor, shape: [1, 4], values: [0.1, -.infinity, 0.3, 0.4]))
        }
        guard case .nonFiniteOutput(.hairColor, let values)? = colorError else {
            Issue.record("expected nonFiniteOutput(hair_color), got \(String(describing: colorError))")
            return
        }
        #expect(values[1] == -.infinity)
        let attributeError = #expect(throws: HairNetError.self) {
            _ = try HairColorPrediction(hairColor: finite)
            _ = try AttributePrediction.decode(OutputTensor(.attributes, shape: [1, 4], values: [0.1, .infinity, .nan, 0.4]), threshold: 0.5)
        }
        guard case .nonFiniteOutput(.attributes, _)? = attributeError else {
            Issue.record("expected nonFiniteOutput(attributes), got \(String(describing: attributeError))")
            return
        }
        // Each pixel: (skin, hair). Only a finite winner above the threshold gives a label.
        let pixels: [(Float, Float, PixelLabel)] = [
            (.nan, 0.9, .background), (0.9, .nan, .background), (.nan, .nan, .background),
            (0.6, 0.6, .hair), (0.51, 0.5, .skin), (0.5, 0.5, .background), (-.infinity, .infinity, .hair),
        ]
        let map = try LabelMap(
            segmentation: segmentation(height: 1, width: pixels.count, skin: pixels.map(\.0), hair: pixels.map(\.1)),
            threshold: 0.5)
        #expect(map.labels == pixels.map(\.2.rawValue))
    }

    @Test("strides in any order decode like the contiguous layout")
    func nonContiguousStrides() throws {
        let (height, width) = (3, 4)
        let skin: [Float] = (0 ..< 12).map { Float($0) / 12 }
        let hair: [Float] = (0 ..< 12).map { Float(11 - $0) / 11 }
        let expected = try LabelMap(segmentation: segmentation(height: height, width: width, skin: skin, hair: hair), threshold: 0.5)
        #expect(Set(expected.labels).count == 3)  // the case exercises every label

        // Channels interleaved last (NHWC storage), with two padding values after each row.
        let rowStride = 2 * width + 2
        var interleaved = [Float](repeating: -7, count: height * rowStride)
        // Column-major (transposed) planes.
        var transposed = [Float](repeating: -7, count: 2 * height * width)
        for y in 0 ..< height {
            for x in 0 ..< width {
                interleaved[y * rowStride + 2 * x] = skin[y * width + x]
                interleaved[y * rowStride + 2 * x + 1] = hair[y * width + x]
                transposed[x * height + y] = skin[y * width + x]
                transposed[height * width + x * height + y] = hair[y * width + x]
            }
        }
        let layouts: [(strides: [Int], storage: [Float])] = [
            ([height * rowStride, 1, rowStride, 2], interleaved),
            ([2 * height * width, height * width, 1, height], transposed),
        ]
        for layout in layouts {
            let tensor = try OutputTensor(.segmentation, shape: [1, 2, height, width], strides: layout.strides, storage: layout.storage)
            #expect(try LabelMap(segmentation: tensor, threshold: 0.5) == expected, "strides \(layout.strides)")
        }
        // A batch stride of zero (a broadcast dimension) is legal too.
        let broadcast = try OutputTensor(.hairColor, shape: [1, 4], strides: [0, 2], storage: [0.1, -1, 0.7, -1, 0.1, -1, 0.1])
        #expect(try HairColorPrediction(hairColor: broadcast).color == .blond)
    }

    #if !(os(macOS) && arch(x86_64))  // Swift's Float16 does not exist on Intel Macs
    @Test("half-precision storage converts exactly, for every bit pattern")
    func halfPrecision() {
        let bits = (0 ... UInt16.max).map { $0 }
        let converted = bits.withUnsafeBytes { OutputTensor.storage(float16Bytes: $0) }
        #expect(converted.count == bits.count)
        for (pattern, value) in zip(bits, converted) {
            let reference = Float(Float16(bitPattern: pattern))
            if reference.isNaN {
                #expect(value.isNaN && value.sign == reference.sign, "bits \(pattern)")
            } else {
                #expect(value.bitPattern == reference.bitPattern, "bits \(pattern)")
            }
        }
    }
    #endif
}
