import Foundation

/// A summary of latency samples (seconds).
///
/// Percentiles interpolate linearly between the closest ranks, NumPy's default ("linear"):
/// for sorted samples x₀ … xₙ₋₁ the p-th percentile is read at rank h = (n − 1)·p/100 between
/// x⌊h⌋ and x⌊h⌋₊₁, with NumPy's two-sided interpolation formula, so figures match
/// `numpy.percentile`. The median is the 50th percentile. The trimmed mean drops ⌊0.1·n⌋
/// samples at each end, as `scipy.stats.trim_mean(x, 0.1)` does.
public struct LatencyStatistics: Sendable, Equatable, Codable {
    public let count: Int
    public let minimum: Double
    public let maximum: Double
    public let median: Double
    public let p90: Double
    public let p99: Double
    public let trimmedMean: Double

    /// Summarises `samples`; nil when there are none or one is not finite.
    public init?(samples: [Double]) {
        guard !samples.isEmpty, samples.allSatisfy(\.isFinite) else { return nil }
        let sorted = samples.sorted()
        let trim = sorted.count / 10
        let kept = sorted[trim ..< sorted.count - trim]
        count = sorted.count
        minimum = sorted[0]
        maximum = sorted[sorted.count - 1]
        median = Self.percentile(50, ofSorted: sorted)
        p90 = Self.percentile(90, ofSorted: sorted)
        p99 = Self.percentile(99, ofSorted: sorted)
        trimmedMean = kept.reduce(0, +) / Double(kept.count)
    }

    static func percentile(_ p: Double, ofSorted sorted: [Double]) -> Double {
        let rank = Double(sorted.count - 1) * (p / 100)
        let lower = Int(rank.rounded(.down))
        let upper = Swift.min(lower + 1, sorted.count - 1)
        let fraction = rank - Double(lower)
        let (a, b) = (sorted[lower], sorted[upper])
        // NumPy's _lerp: interpolate from the nearer end, which keeps results monotone.
        return fraction < 0.5 ? a + (b - a) * fraction : b - (b - a) * (1 - fraction)
    }
}

/// One value for each stage of an analysis, in pipeline order.
public struct PerStage<Value> {
    /// Vision face detection, once per photo (shared by its faces).
    public var faceDetection: Value
    /// Cutting and resizing the head crop into the model's input buffer.
    public var crop: Value
    /// The Core ML prediction.
    public var prediction: Value
    /// Decoding the outputs and pasting the label map back onto the photo.
    public var decode: Value

    public init(faceDetection: Value, crop: Value, prediction: Value, decode: Value) {
        self.faceDetection = faceDetection
        self.crop = crop
        self.prediction = prediction
        self.decode = decode
    }
}

extension PerStage: Sendable where Value: Sendable {}
extension PerStage: Equatable where Value: Equatable {}
extension PerStage: Codable where Value: Codable {}

/// The seconds each stage of one analysis took.
public typealias StageTimings = PerStage<TimeInterval>

extension PerStage where Value == LatencyStatistics {
    /// Per-stage statistics over several runs; nil when there are no runs.
    public init?(runs: [StageTimings]) {
        guard let faceDetection = LatencyStatistics(samples: runs.map(\.faceDetection)),
              let crop = LatencyStatistics(samples: runs.map(\.crop)),
              let prediction = LatencyStatistics(samples: runs.map(\.prediction)),
              let decode = LatencyStatistics(samples: runs.map(\.decode))
        else { return nil }
        self.init(faceDetection: faceDetection, crop: crop, prediction: prediction, decode: decode)
    }
}

/// What a benchmark run measured, and on what; written as JSON by the benchmark tools.
public struct BenchmarkReport: Sendable, Equatable, Codable {
    /// The hardware model, e.g. "iPad13,4".
    public var device: String
    /// The operating system and version, e.g. "iPadOS 17.5".
    public var operatingSystem: String
    /// The `MLComputeUnits` the model was loaded with, e.g. "cpuAndNeuralEngine".
    public var computeUnits: String
    /// Runs made before measuring, to warm caches and compile shaders.
    public var warmupRuns: Int
    /// Runs the statistics summarise.
    public var measuredRuns: Int
    /// `ProcessInfo.ThermalState` at the end of the run, e.g. "nominal".
    public var thermalState: String
    public var stages: PerStage<LatencyStatistics>
    /// How many of the model's operations each compute unit runs, when known
    /// (e.g. ["neuralEngine": 120, "gpu": 0, "cpu": 3]).
    public var operationCounts: [String: Int]?

    public init(
        device: String, operatingSystem: String, computeUnits: String, warmupRuns: Int, measuredRuns: Int,
        thermalState: String, stages: PerStage<LatencyStatistics>, operationCounts: [String: Int]? = nil
    ) {
        self.device = device
        self.operatingSystem = operatingSystem
        self.computeUnits = computeUnits
        self.warmupRuns = warmupRuns
        self.measuredRuns = measuredRuns
        self.thermalState = thermalState
        self.stages = stages
        self.operationCounts = operationCounts
    }
}

/// Runs `body` and returns its result with the seconds it took on a monotonic clock.
package func timed<T>(_ body: () throws -> T) rethrows -> (result: T, seconds: TimeInterval) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try body()
    let elapsed = (clock.now - start).components
    return (result, Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
}
