import Testing
import HairNetCore

/// Many tasks decoding at once, for `swift test --sanitize=thread`: the decoders share nothing
/// mutable, so every task must get the single-task answer and the sanitizer must stay silent.
@Suite("Concurrent decoding")
struct ConcurrentDecodingTests {
    static let metadata: [String: String] = [
        "hairnet.contract_version": "1", "hairnet.segmentation_channels": "skin,hair",
        "hairnet.hair_colors": "black,blond,brown,gray", "hairnet.attributes": "straight,wavy,bangs,bald",
        "hairnet.threshold": "0.5", "hairnet.input_normalization": "x/127.5-1",
        "hairnet.crop": #"{"dx": 0.0, "dy": -0.08, "k": 1.54}"#, "hairnet.training_data": "synthetic",
    ]

    @Test("64 tasks decode the same outputs and contract and all agree")
    func manyTasks() async throws {
        let side = HairNetContract.inputSize
        let values = (0 ..< 2 * side * side).map { Float(($0 * 7919) % 1000) / 999 }
        let segmentation = try OutputTensor(.segmentation, shape: [1, 2, side, side], values: values)
        let color = try OutputTensor(.hairColor, shape: [1, 4], values: [0.1, 0.5, 0.3, 0.1])
        let attributes = try OutputTensor(.attributes, shape: [1, 4], values: [0.9, 0.1, 0.6, 0.2])
        let expected = try DecodedOutputs(segmentation: segmentation, hairColor: color, attributes: attributes, threshold: 0.5)
        let box = try CropRule(k: 1.54, dx: 0, dy: -0.08).cropBox(for: FaceBox(x: 40, y: 30, width: 100, height: 120))
        let pasted = try expected.labelMap.pastedIntoPhoto(width: 300, height: 200, cropBox: box)

        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0 ..< 64 {
                group.addTask {
                    let contract = try HairNetContract(metadata: Self.metadata)
                    let decoded = try DecodedOutputs(
                        segmentation: segmentation, hairColor: color, attributes: attributes, threshold: contract.threshold)
                    let crop = try contract.cropRule.cropBox(for: FaceBox(x: 40, y: 30, width: 100, height: 120))
                    return try decoded == expected && decoded.labelMap.pastedIntoPhoto(width: 300, height: 200, cropBox: crop) == pasted
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 64 && results.allSatisfy { $0 })
    }
}
