import Foundation
import Testing
import HairNetCore

@Suite("Metadata contract")
struct ContractTests {
    /// What `hairnet.contract.metadata()` writes, with an evaluation entry.
    static let metadata: [String: String] = [
        "hairnet.contract_version": "1",
        "hairnet.segmentation_channels": "skin,hair",
        "hairnet.hair_colors": "black,blond,brown,gray",
        "hairnet.attributes": "straight,wavy,bangs,bald",
        "hairnet.threshold": "0.5",
        "hairnet.input_normalization": "x/127.5-1",
        "hairnet.crop": #"{"dx": 0.0, "dy": -0.12, "k": 2.2}"#,
        "hairnet.training_data": "CelebAMask-HQ, CelebA, … The weights inherit the non-commercial research restriction.",
        "hairnet.evaluation": #"{"celebamask_hq": {"hair_iou": 0.81}, "images": 200}"#,
    ]

    @Test("a complete contract is read")
    func reads() throws {
        let contract = try HairNetContract(metadata: Self.metadata)
        #expect(contract.threshold == 0.5)
        #expect(contract.cropRule == (try CropRule(k: 2.2, dx: 0, dy: -0.12)))
        #expect(contract.trainingData.hasSuffix("non-commercial research restriction."))
        #expect(contract.evaluationJSON == Self.metadata["hairnet.evaluation"])
        var withoutEvaluation = Self.metadata
        withoutEvaluation["hairnet.evaluation"] = nil
        #expect(try HairNetContract(metadata: withoutEvaluation).evaluationJSON == nil)
        // Keys the contract does not know are ignored (Core ML adds its own).
        withoutEvaluation["com.github.apple.coremltools.version"] = "9.0"
        #expect(try HairNetContract(metadata: withoutEvaluation).threshold == 0.5)
    }

    @Test("each missing required key is named",
          arguments: HairNetContract.Key.allCases.filter { $0 != .evaluation })
    func missingKey(key: HairNetContract.Key) {
        var metadata = Self.metadata
        metadata[key.rawValue] = nil
        let error = #expect(throws: HairNetError.self) { try HairNetContract(metadata: metadata) }
        guard case .missingMetadata(key.rawValue)? = error else {
            Issue.record("expected missingMetadata(\(key.rawValue)), got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains(key.rawValue) == true)
        #expect(throws: HairNetError.self) { try HairNetContract(metadata: [:]) }
    }

    @Test("a misspelt required key is named as missing, whatever the spelling",
          arguments: HairNetContract.Key.allCases.filter { $0 != .evaluation })
    func misspeltKey(key: HairNetContract.Key) {
        let misspellings = [key.rawValue.uppercased(), key.rawValue + " ", " " + key.rawValue,
                            key.rawValue.replacingOccurrences(of: "hairnet.", with: "hairnet_"),
                            key.rawValue.replacingOccurrences(of: "_", with: "-")].filter { $0 != key.rawValue }
        for misspelt in misspellings {
            var metadata = Self.metadata
            metadata[misspelt] = metadata.removeValue(forKey: key.rawValue)
            let error = #expect(throws: HairNetError.self) { try HairNetContract(metadata: metadata) }
            guard case .missingMetadata(key.rawValue)? = error else {
                Issue.record("\(misspelt): expected missingMetadata(\(key.rawValue)), got \(String(describing: error))")
                continue
            }
        }
    }

    struct Malformed: Sendable, CustomTestStringConvertible {
        let key: String
        let value: String
        var testDescription: String { "\(key) = '\(value)'" }
    }

    @Test("malformed values are named with their key and value", arguments: [
        Malformed(key: "hairnet.contract_version", value: "2"),
        Malformed(key: "hairnet.segmentation_channels", value: "hair,skin"),
        Malformed(key: "hairnet.hair_colors", value: "black,blond,brown"),
        Malformed(key: "hairnet.attributes", value: "straight, wavy, bangs, bald"),
        Malformed(key: "hairnet.threshold", value: "abc"),
        Malformed(key: "hairnet.threshold", value: ""),
        Malformed(key: "hairnet.threshold", value: "0"),
        Malformed(key: "hairnet.threshold", value: "1.0"),
        Malformed(key: "hairnet.threshold", value: "nan"),
        Malformed(key: "hairnet.input_normalization", value: "(x-mean)/std"),
        Malformed(key: "hairnet.crop", value: "{}"),
        Malformed(key: "hairnet.crop", value: #"{"k": -2.2, "dx": 0, "dy": 0}"#),
        Malformed(key: "hairnet.crop", value: #"{"k": 1e9, "dx": 0, "dy": 0}"#),
        Malformed(key: "hairnet.crop", value: #"{"k": 1.5, "dx": 0, "dy": 50}"#),
        Malformed(key: "hairnet.crop", value: String(repeating: "[", count: 100_000)),
        Malformed(key: "hairnet.training_data", value: " "),
        Malformed(key: "hairnet.evaluation", value: "[0.81]"),
        Malformed(key: "hairnet.evaluation", value: "not json"),
    ])
    func malformedValue(_ malformed: Malformed) {
        var metadata = Self.metadata
        metadata[malformed.key] = malformed.value
        let error = #expect(throws: HairNetError.self) { try HairNetContract(metadata: metadata) }
        guard case let .malformedMetadata(key, value, expected)? = error else {
            Issue.record("expected malformedMetadata, got \(String(describing: error))")
            return
        }
        #expect(key == malformed.key && value == malformed.value && !expected.isEmpty)
        #expect(error?.description.contains("'\(malformed.value)'") == true)
    }

    @Test("thresholds inside (0, 1) in any number syntax are accepted")
    func thresholds() throws {
        for (text, value) in [("0.3", 0.3), ("0.75", 0.75), ("5e-1", 0.5)] {
            var metadata = Self.metadata
            metadata["hairnet.threshold"] = text
            #expect(try HairNetContract(metadata: metadata).threshold == value)
        }
    }
}
