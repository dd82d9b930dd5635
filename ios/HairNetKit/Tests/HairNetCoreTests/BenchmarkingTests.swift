import Foundation
import Testing
@testable import HairNetCore

@Suite("Latency statistics and benchmark reports")
struct BenchmarkingTests {
    @Test("statistics of known samples match numpy.percentile and scipy.stats.trim_mean")
    func knownArrays() throws {
        // Expected values printed by NumPy 2.4 / SciPy 1.17 for the same arrays.
        let oneToTen = try #require(LatencyStatistics(samples: (1 ... 10).reversed().map(Double.init)))
        #expect(oneToTen.count == 10 && oneToTen.minimum == 1 && oneToTen.maximum == 10)
        #expect(oneToTen.median == 5.5 && oneToTen.p90 == 9.1 && oneToTen.p99 == 9.91)
        #expect(oneToTen.trimmedMean == 5.5)

        let latencies = [0.012, 0.0101, 0.0153, 0.0099, 0.011, 0.0250, 0.0102, 0.0108, 0.0111, 0.0105, 0.0097, 0.0300]
        let stats = try #require(LatencyStatistics(samples: latencies))
        #expect(stats.median == 0.0109)
        #expect(stats.p90 == 0.024030000000000006)
        #expect(stats.p99 == 0.02945)
        #expect(abs(stats.trimmedMean - 0.01259) < 1e-15)  // one sample dropped at each end

        let single = try #require(LatencyStatistics(samples: [0.5]))
        #expect(single.median == 0.5 && single.p99 == 0.5 && single.trimmedMean == 0.5)
        let pair = try #require(LatencyStatistics(samples: [2, 1]))
        #expect(pair.median == 1.5 && pair.p90 == 1.9 && pair.p99 == 1.99)
    }

    @Test("no statistics without samples or with a non-finite one")
    func invalidSamples() {
        #expect(LatencyStatistics(samples: []) == nil)
        #expect(LatencyStatistics(samples: [0.1, .nan]) == nil)
        #expect(LatencyStatistics(samples: [0.1, .infinity]) == nil)
        #expect(PerStage<LatencyStatistics>(runs: []) == nil)
    }

    @Test("a benchmark report survives a JSON round trip")
    func reportRoundTrip() throws {
        let runs = (1 ... 20).map { run in
            StageTimings(faceDetection: 0.004 + Double(run) * 1e-5, crop: 0.001, prediction: 0.006 + Double(run % 7) * 1e-4, decode: 0.002)
        }
        let report = BenchmarkReport(
            device: "iPad13,4", operatingSystem: "iPadOS 17.5", computeUnits: "cpuAndNeuralEngine",
            warmupRuns: 5, measuredRuns: runs.count, thermalState: "nominal",
            stages: try #require(PerStage<LatencyStatistics>(runs: runs)),
            operationCounts: ["neuralEngine": 118, "gpu": 0, "cpu": 4])
        #expect(report.stages.crop.median == 0.001)
        #expect(report.stages.faceDetection.count == 20)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try encoder.encode(report)
        #expect(try JSONDecoder().decode(BenchmarkReport.self, from: json) == report)
        let text = String(decoding: json, as: UTF8.self)
        for key in ["\"faceDetection\"", "\"prediction\"", "\"p99\"", "\"trimmedMean\"", "\"thermalState\"", "\"operationCounts\""] {
            #expect(text.contains(key))
        }
        var withoutCounts = report
        withoutCounts.operationCounts = nil
        #expect(try JSONDecoder().decode(BenchmarkReport.self, from: encoder.encode(withoutCounts)) == withoutCounts)
    }

    @Test("timed returns the body's result and a non-negative duration")
    func timing() throws {
        let (value, seconds) = timed { (1 ... 1000).reduce(0, +) }
        #expect(value == 500_500 && seconds >= 0 && seconds < 10)
    }
}
