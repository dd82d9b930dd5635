#if canImport(CoreML) && canImport(Vision)
import CoreML
import Foundation
import HairNetKit

extension HairNetBench {
    static func benchmark(_ options: Options) async throws {
        let units = try options.computeUnits.map { names in
            try names.map { name in
                guard let parsed = MLComputeUnits(benchmarkName: name) else {
                    throw UsageError("unknown compute units '\(name)' (expected cpuOnly, cpuAndGPU, cpuAndNeuralEngine or all)")
                }
                return parsed
            }
        } ?? BenchmarkOptions.allComputeUnits
        for directory in options.imageDirectories {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw UsageError("--images \(directory.path): no such folder")
            }
        }

        print("HairNet latency: \(options.runs) timed and \(options.warmup) warm-up analyses per compute unit "
            + "(\(units.map(\.benchmarkName).joined(separator: ", ")))")
        let results = try await LatencyBenchmark.run(
            model: options.model, imageDirectories: options.imageDirectories,
            options: BenchmarkOptions(computeUnits: units, warmupRuns: options.warmup, measuredRuns: options.runs)
        ) { progress in
            print("[\(String(format: "%3.0f", progress.fractionCompleted * 100))%] \(progress.message)")
        }
        print(table(results))
        let output = options.output ?? URL(fileURLWithPath: results.fileName)
        try results.jsonData().write(to: output, options: .atomic)
        print("Wrote \(output.path)")
    }

    /// Milliseconds per stage and compute unit, then the one-off costs.
    static func table(_ results: BenchmarkResults) -> String {
        let ms = LatencyBenchmark.milliseconds
        let report = results.computeUnits.first?.report
        var lines = [
            "",
            "\(report?.device ?? "?"), \(report?.operatingSystem ?? "?"); \(results.model); \(results.images.count) photos; "
                + "thermal state \(results.thermalStateAtStart) at start, \(report?.thermalState ?? "?") at end",
            "",
            left("compute units", 20) + left("stage", 16) + right("median", 10) + right("p90", 10) + right("p99", 10) + "  (ms)",
        ]
        for unit in results.computeUnits {
            for (index, row) in unit.rows.enumerated() {
                let statistics = row.statistics
                lines.append(left(index == 0 ? unit.id : "", 20) + left(row.stage, 16)
                    + right(ms(statistics.median), 10) + right(ms(statistics.p90), 10) + right(ms(statistics.p99), 10))
            }
        }
        lines += ["", "compile (or cache lookup): \(ms(results.compileSeconds)) ms"]
        for unit in results.computeUnits {
            lines.append("\(unit.id): model load \(ms(unit.loadSeconds)) ms, first analysis \(ms(unit.firstAnalysis.total)) ms"
                + (unit.operationSummary.map { "; operations on \($0)" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }

    private static func left(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(1, width - text.count))
    }

    private static func right(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(1, width - text.count)) + text
    }
}
#endif
