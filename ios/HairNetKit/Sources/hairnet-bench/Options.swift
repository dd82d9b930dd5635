import Foundation

/// The command line, parsed by hand: the package depends on nothing beyond the toolchain.
struct Options {
    static let usage = """
        USAGE: swift run -c release hairnet-bench --images DIR [options]

        Times HairNet on every photo with a face in DIR (face detection, crop, prediction and
        decode, per compute unit, interleaved) and writes the JSON report the iPad app writes.

        OPTIONS:
          --images DIR            folder of photos with faces (JPEG, PNG, HEIC, ...); repeatable
          --model PATH            .mlpackage, .mlmodel or .mlmodelc (default: the model bundled with HairNetKit)
          --runs N                timed analyses per compute unit (default: 100)
          --warmup N              untimed analyses per compute unit after the first (default: 10)
          --compute-units LIST    comma-separated, from cpuOnly,cpuAndGPU,cpuAndNeuralEngine,all (default: all four)
          --output FILE           the JSON report (default: hairnet-benchmark-<device>-<date>.json here)
          -h, --help              show this help
        """

    var imageDirectories: [URL] = []
    var model: URL?
    var runs = 100
    var warmup = 10
    /// Names as `MLComputeUnits` spells its cases; nil for all of them.
    var computeUnits: [String]?
    var output: URL?
    var showHelp = false

    init(arguments: [String]) throws {
        var remaining = arguments[...]
        while let flag = remaining.popFirst() {
            if flag == "-h" || flag == "--help" {
                showHelp = true
                continue
            }
            guard ["--images", "--model", "--runs", "--warmup", "--compute-units", "--output"].contains(flag) else {
                throw UsageError("unknown option '\(flag)'")
            }
            guard let value = remaining.popFirst() else { throw UsageError("\(flag) needs a value") }
            switch flag {
            case "--images": imageDirectories.append(URL(fileURLWithPath: value, isDirectory: true))
            case "--model": model = URL(fileURLWithPath: value)
            case "--runs": runs = try Self.count(value, of: flag, atLeast: 1)
            case "--warmup": warmup = try Self.count(value, of: flag, atLeast: 0)
            case "--compute-units": computeUnits = value.split(separator: ",").map(String.init)
            default: output = URL(fileURLWithPath: value)
            }
        }
        if !showHelp && imageDirectories.isEmpty {
            throw UsageError("--images DIR is required")
        }
    }

    private static func count(_ value: String, of flag: String, atLeast minimum: Int) throws -> Int {
        guard let count = Int(value), count >= minimum else {
            throw UsageError("\(flag) needs a whole number of at least \(minimum), got '\(value)'")
        }
        return count
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
