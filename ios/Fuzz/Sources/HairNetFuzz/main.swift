// Two libFuzzer targets in one binary, chosen with --target=contract or --target=outputs (libFuzzer
// ignores flags that start with "--"). Each fails — a crash libFuzzer records — on anything but a
// correct answer or the HairNetError the API documents, and on a broken invariant.
import Foundation
import HairNetCore

/// Reads the fuzzer's bytes front to back; past the end every read gives zeros.
struct Bytes {
    private let data: [UInt8]
    private var position = 0

    init(_ data: [UInt8]) { self.data = data }

    var isAtEnd: Bool { position >= data.count }

    mutating func byte() -> UInt8 {
        defer { position += 1 }
        return position < data.count ? data[position] : 0
    }

    mutating func int32() -> Int32 {
        (0 ..< 4).reduce(Int32(0)) { value, _ in value << 8 | Int32(byte()) }
    }

    /// Up to `limit` bytes, stopping after a zero byte.
    mutating func string(limit: Int = 64) -> String {
        var bytes: [UInt8] = []
        while !isAtEnd, bytes.count < limit {
            let next = byte()
            if next == 0 { break }
            bytes.append(next)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Metadata as a model could carry it: the contract's keys (mostly) with fuzzed or valid values.
func fuzzContract(_ input: inout Bytes) {
    let valid: [HairNetContract.Key: String] = [
        .contractVersion: "1", .segmentationChannels: "skin,hair", .hairColors: "black,blond,brown,gray",
        .attributes: "straight,wavy,bangs,bald", .threshold: "0.5", .inputNormalization: "x/127.5-1",
        .crop: #"{"dx": 0.0, "dy": -0.08, "k": 1.54}"#, .trainingData: "CelebAMask-HQ (non-commercial)",
        .evaluation: #"{"figaro1k/test": {"hair_iou": 0.8}}"#,
    ]
    var metadata: [String: String] = [:]
    let keys = HairNetContract.Key.allCases
    while !input.isAtEnd {
        let choice = Int(input.byte())
        let key = choice < 2 * keys.count ? keys[choice % keys.count].rawValue : input.string(limit: 24)
        metadata[key] = choice % 3 == 0 ? valid[HairNetContract.Key(rawValue: key) ?? .trainingData] : input.string()
    }
    do {
        let contract = try HairNetContract(metadata: metadata)
        precondition(contract.threshold > 0 && contract.threshold < 1, "threshold \(contract.threshold) accepted")
        precondition(contract.cropRule.k > 0 && contract.cropRule.k.isFinite, "crop rule \(contract.cropRule) accepted")
        precondition(!contract.trainingData.allSatisfy(\.isWhitespace), "blank training data accepted")
        for key in keys where key != .evaluation {
            precondition(metadata[key.rawValue] != nil, "missing \(key.rawValue) accepted")
        }
    } catch let HairNetError.missingMetadata(key) {
        precondition(metadata[key] == nil && keys.contains { $0.rawValue == key }, "wrong key named missing: \(key)")
    } catch let HairNetError.malformedMetadata(key, value, _) {
        precondition(metadata[key] == value, "malformed \(key) reported with a value it does not have")
    } catch {
        preconditionFailure("undocumented error \(error)")
    }
}

/// An output tensor as Core ML could hand it over: any rank, shape, strides and storage.
func fuzzOutputs(_ input: inout Bytes) {
    let output = ModelOutput.allCases[Int(input.byte()) % ModelOutput.allCases.count]
    let rank = Int(input.byte() % 6)
    let shape = (0 ..< rank).map { _ in Int(input.int32()) }
    let strides = (0 ..< rank).map { _ in Int(input.int32()) }
    var storage: [Float] = []
    while !input.isAtEnd, storage.count < 4096 {
        storage.append(Float(bitPattern: UInt32(bitPattern: input.int32())))
    }
    let tensor: OutputTensor
    do {
        tensor = try OutputTensor(output, shape: shape, strides: strides, storage: storage)
    } catch HairNetError.outputLayout {
        return
    } catch {
        preconditionFailure("undocumented error \(error)")
    }
    do {
        switch output {
        case .segmentation:
            let map = try LabelMap(segmentation: tensor, threshold: 0.5)
            precondition(map.labels.count == shape[2] * shape[3] && map.labels.allSatisfy { $0 <= 2 })
        case .hairColor:
            let color = try HairColorPrediction(hairColor: tensor)
            precondition(color.probabilities.allSatisfy { $0 <= color.probability })
        case .attributes:
            let attributes = try AttributePrediction.decode(tensor, threshold: 0.5)
            precondition(attributes.allSatisfy { $0.isPresent == ($0.probability > 0.5) })
        }
    } catch HairNetError.outputShape, HairNetError.nonFiniteOutput {
        return
    } catch {
        preconditionFailure("undocumented error \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = Bytes(Array(UnsafeBufferPointer(start: start, count: count)))
    if CommandLine.arguments.contains("--target=outputs") {
        fuzzOutputs(&input)
    } else {
        fuzzContract(&input)
    }
    return 0
}

// SwiftPM links an executable's entry point as main; hand control to libFuzzer's driver from it.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv, testOneInput))
