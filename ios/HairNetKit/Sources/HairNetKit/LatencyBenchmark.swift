#if canImport(CoreML) && canImport(Vision)
import CoreGraphics
import CoreML
import Foundation
import HairNetCore
import ImageIO
import UniformTypeIdentifiers
import Vision

/// The measurement loop shared by the iPad benchmark app and `hairnet-bench`, so that both
/// measure the same thing the same way.
///
/// For each compute unit: a cold model load, the first analysis, then warm-up analyses and timed
/// analyses, interleaved across the compute units (run i of every unit before run i + 1 of any),
/// so that a device warming up slows them all alike rather than whichever comes last.
public enum LatencyBenchmark {
    /// Runs the benchmark on every photo with a face in `imageDirectories`.
    ///
    /// - Parameters:
    ///   - modelURL: an `.mlpackage`, `.mlmodel` or `.mlmodelc`; nil for the model bundled with HairNetKit.
    ///   - imageDirectories: folders whose image files (not subfolders) are the samples. Photos in
    ///     which Vision finds no face are left out and listed in the results.
    ///   - progress: told at each phase and every tenth of the timed runs.
    public static func run(
        model modelURL: URL?, imageDirectories: [URL], options: BenchmarkOptions,
        progress: @escaping @MainActor @Sendable (BenchmarkProgress) -> Void
    ) async throws -> BenchmarkResults {
        guard options.measuredRuns > 0, options.warmupRuns >= 0, !options.computeUnits.isEmpty else {
            throw BenchmarkError.invalidOptions(
                "need at least one timed run, no negative warm-up count and at least one compute unit")
        }
        let source = try modelURL ?? bundledModelURL()
        let files = try BenchmarkImage.files(in: imageDirectories)
        guard !files.isEmpty else { throw BenchmarkError.noPhotos(directories: imageDirectories.map(\.path)) }
        let units = options.computeUnits
        let analysesPerUnit = 1 + options.warmupRuns + options.measuredRuns
        let totalSteps = files.count + units.count * (1 + analysesPerUnit)
        var step = 0
        func report(_ message: String) async {
            await progress(BenchmarkProgress(message: message, fractionCompleted: Double(step) / Double(totalSteps)))
        }

        await report("Reading \(files.count) photos and looking for faces")
        let thermalStateAtStart = ProcessInfo.processInfo.thermalState.name
        var images: [BenchmarkImage] = []
        var withoutFace: [String] = []
        for file in files {
            let image = try BenchmarkImage(contentsOf: file)
            if try image.hasFace() { images.append(image) } else { withoutFace.append(image.name) }
            step += 1
        }
        guard !images.isEmpty else { throw BenchmarkError.noFace(photos: withoutFace) }
        if !withoutFace.isEmpty {
            await report("No face in \(withoutFace.joined(separator: ", ")): left out")
        }

        await report("Compiling \(source.lastPathComponent) (once per model content, then cached)")
        let (compiled, compileSeconds) = try await measure { try await CompiledModelCache.compiledModel(at: source) }

        var analyzers: [HairAnalyzer] = []
        var loadSeconds: [TimeInterval] = []
        var countsPerUnit: [[String: Int]?] = []
        for unit in units {
            await report("Loading the model for \(unit.benchmarkName)")
            let (analyzer, seconds) = try await measure {
                try await HairAnalyzer(modelURL: compiled, computeUnits: unit)
            }
            analyzers.append(analyzer)
            loadSeconds.append(seconds)
            countsPerUnit.append(await operationCountsIfAvailable(compiledModel: compiled, computeUnits: unit, report: report))
            step += 1
        }

        var firstAnalyses: [StageTimings] = []
        for (analyzer, unit) in zip(analyzers, units) {
            await report("First analysis with \(unit.benchmarkName)")
            let first = try await timings(of: images[0], by: analyzer, computeUnits: unit)
            firstAnalyses.append(first)
            step += 1
        }

        await report("\(options.warmupRuns) warm-up analyses per compute unit")
        for run in 0 ..< options.warmupRuns {
            for index in rotated(units.indices, by: run) {
                _ = try await timings(of: images[run % images.count], by: analyzers[index], computeUnits: units[index])
            }
            step += units.count
        }

        await report("\(options.measuredRuns) timed analyses per compute unit")
        var runs = Array(repeating: [StageTimings](), count: units.count)
        let reportEvery = max(1, options.measuredRuns / 10)
        for run in 0 ..< options.measuredRuns {
            for index in rotated(units.indices, by: run) {
                let timing = try await timings(of: images[run % images.count], by: analyzers[index], computeUnits: units[index])
                runs[index].append(timing)
            }
            step += units.count
            if (run + 1) % reportEvery == 0 { await report("Timed analyses: \(run + 1) of \(options.measuredRuns)") }
        }

        let device = deviceModel()
        let system = operatingSystem(device: device)
        let thermalState = ProcessInfo.processInfo.thermalState.name
        var results: [ComputeUnitResult] = []
        for index in units.indices {
            guard let stages = PerStage<LatencyStatistics>(runs: runs[index]),
                  let total = LatencyStatistics(samples: runs[index].map(\.total))
            else { throw BenchmarkError.invalidTimings(computeUnits: units[index].benchmarkName) }
            results.append(ComputeUnitResult(
                report: BenchmarkReport(
                    device: device, operatingSystem: system, computeUnits: units[index].benchmarkName,
                    warmupRuns: options.warmupRuns, measuredRuns: runs[index].count, thermalState: thermalState,
                    stages: stages, operationCounts: countsPerUnit[index]),
                total: total, loadSeconds: loadSeconds[index], firstAnalysis: firstAnalyses[index]))
        }
        return BenchmarkResults(
            model: source.lastPathComponent, date: Date(), thermalStateAtStart: thermalStateAtStart,
            images: images.map { BenchmarkResults.Image($0) }, imagesWithoutFace: withoutFace,
            compileSeconds: compileSeconds, computeUnits: results)
    }

    /// Milliseconds with two decimals, as both benchmark front ends print them.
    public static func milliseconds(_ seconds: TimeInterval) -> String {
        String(format: "%.2f", seconds * 1000)
    }

    /// The stage timings of the largest face; a photo with several faces also spends time on the others.
    private static func timings(
        of image: BenchmarkImage, by analyzer: HairAnalyzer, computeUnits: MLComputeUnits
    ) async throws -> StageTimings {
        guard let face = try await analyzer.analyze(image.image, orientation: image.orientation).first else {
            throw BenchmarkError.faceLost(photo: image.name, computeUnits: computeUnits.benchmarkName)
        }
        return face.timings
    }

    /// The indices starting at `offset`: no compute unit always runs right after the same other one.
    private static func rotated(_ indices: Range<Int>, by offset: Int) -> [Int] {
        indices.map { indices.lowerBound + ($0 - indices.lowerBound + offset) % indices.count }
    }

    private static func measure<T>(_ body: () async throws -> T) async rethrows -> (T, TimeInterval) {
        let start = ContinuousClock.now
        let result = try await body()
        let elapsed = (ContinuousClock.now - start).components
        return (result, Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
    }

    private static func bundledModelURL() throws -> URL {
        guard let url = Bundle.module.url(forResource: "HairNet", withExtension: "mlpackage") else {
            throw HairNetError.invalidModelFile(path: "HairNet.mlpackage", reason: "not in HairNetKit's resource bundle")
        }
        return url
    }

    /// Operation counts per compute device, from `MLComputePlan` where the OS has it (iOS 17.4, macOS 14.4).
    private static func operationCountsIfAvailable(
        compiledModel: URL, computeUnits: MLComputeUnits, report: (String) async -> Void
    ) async -> [String: Int]? {
        guard #available(iOS 17.4, macOS 14.4, *) else { return nil }
        do {
            return try await operationCounts(compiledModel: compiledModel, computeUnits: computeUnits)
        } catch {
            await report("No compute plan for \(computeUnits.benchmarkName): \(error.localizedDescription)")
            return nil
        }
    }

    /// How many operations of the program's main function each device is preferred for; operations
    /// with no device (constants) are not counted. Nil for a model that is not an ML program.
    @available(iOS 17.4, macOS 14.4, *)
    private static func operationCounts(compiledModel: URL, computeUnits: MLComputeUnits) async throws -> [String: Int]? {
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits
        let plan = try await MLComputePlan.load(contentsOf: compiledModel, configuration: configuration)
        guard case let .program(program) = plan.modelStructure, let main = program.functions["main"] else { return nil }
        var counts: [String: Int] = [:]
        var blocks = [main.block]
        while let block = blocks.popLast() {
            for operation in block.operations {
                blocks += operation.blocks  // loops and conditionals nest their operations
                if let usage = plan.deviceUsage(for: operation) {
                    counts[usage.preferred.benchmarkName, default: 0] += 1
                }
            }
        }
        return counts
    }

    /// The hardware model ("iPad8,9"; on a Mac "Mac14,2 (Apple M2)").
    static func deviceModel() -> String {
        #if targetEnvironment(simulator)
        return "Simulator " + (ProcessInfo.processInfo.environment["SIMULATOR_MODEL_IDENTIFIER"] ?? "unknown")
        #elseif os(macOS)
        return "\(systemString("hw.model") ?? "Mac") (\(systemString("machdep.cpu.brand_string") ?? "unknown chip"))"
        #else
        return systemString("hw.machine") ?? "unknown"
        #endif
    }

    static func operatingSystem(device: String) -> String {
        let version = ProcessInfo.processInfo.operatingSystemVersion
        let number = "\(version.majorVersion).\(version.minorVersion)" + (version.patchVersion > 0 ? ".\(version.patchVersion)" : "")
        #if os(macOS)
        return "macOS \(number)"
        #else
        return (device.contains("iPad") ? "iPadOS " : "iOS ") + number
        #endif
    }

    private static func systemString(_ name: String) -> String? {
        var size = 0
        guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        guard sysctlbyname(name, &bytes, &size, nil, 0) == 0 else { return nil }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// What to run: which compute units, and how many analyses of each.
public struct BenchmarkOptions: Sendable {
    /// Every `MLComputeUnits` case, in the order the reports list them.
    public static let allComputeUnits: [MLComputeUnits] = [.cpuOnly, .cpuAndGPU, .cpuAndNeuralEngine, .all]

    public var computeUnits: [MLComputeUnits]
    /// Untimed analyses per compute unit after the first one.
    public var warmupRuns: Int
    /// Timed analyses per compute unit; run i analyses photo i modulo the number of photos.
    public var measuredRuns: Int

    public init(computeUnits: [MLComputeUnits] = allComputeUnits, warmupRuns: Int = 10, measuredRuns: Int = 100) {
        self.computeUnits = computeUnits
        self.warmupRuns = warmupRuns
        self.measuredRuns = measuredRuns
    }
}

/// Where a benchmark run has got to.
public struct BenchmarkProgress: Sendable {
    public let message: String
    /// From 0 to 1.
    public let fractionCompleted: Double
}

/// A sample photo, decoded before any timing starts.
public struct BenchmarkImage: Sendable {
    public let name: String
    public let image: CGImage
    /// The EXIF orientation that turns the stored image upright.
    public let orientation: CGImagePropertyOrientation

    /// The image files directly inside each directory, sorted by name within it.
    public static func files(in directories: [URL]) throws -> [URL] {
        try directories.flatMap { directory in
            try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil, options: .skipsHiddenFiles)
                .filter { UTType(filenameExtension: $0.pathExtension)?.conforms(to: .image) == true }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
    }

    /// Decodes the whole file now, so that decoding falls in no stage's timing.
    public init(contentsOf url: URL) throws {
        guard let source = CGImageSourceCreateWithURL(url as CFURL, nil),
              let image = CGImageSourceCreateImageAtIndex(
                  source, 0, [kCGImageSourceShouldCacheImmediately: true] as CFDictionary)
        else { throw BenchmarkError.unreadablePhoto(path: url.path) }
        let properties = CGImageSourceCopyPropertiesAtIndex(source, 0, nil) as? [CFString: Any]
        let exif = properties?[kCGImagePropertyOrientation] as? UInt32
        name = url.lastPathComponent
        self.image = image
        orientation = exif.flatMap(CGImagePropertyOrientation.init(rawValue:)) ?? .up
    }

    /// Whether Vision finds a face: without one an analysis stops after face detection.
    func hasFace() throws -> Bool {
        let request = VNDetectFaceRectanglesRequest()
        try VNImageRequestHandler(cgImage: image, orientation: orientation, options: [:]).perform([request])
        return !(request.results ?? []).isEmpty
    }
}

/// One compute unit's measurements: the shared report, plus what it has no field for.
public struct ComputeUnitResult: Sendable, Codable, Identifiable {
    public let report: BenchmarkReport
    /// The whole pipeline, face detection to decoded label map, per timed analysis.
    public let total: LatencyStatistics
    /// Loading the compiled model with these compute units (the Neural Engine or GPU compiles its
    /// own program here; the OS caches that too, so only the first launch after install is fully cold).
    public let loadSeconds: TimeInterval
    /// The first analysis after loading, stage by stage.
    public let firstAnalysis: StageTimings

    public var id: String { report.computeUnits }

    /// One row per stage and one for the whole pipeline, in pipeline order, for tables.
    public var rows: [StageRow] {
        let stages = report.stages
        return [
            StageRow(stage: "face detection", statistics: stages.faceDetection),
            StageRow(stage: "crop", statistics: stages.crop),
            StageRow(stage: "prediction", statistics: stages.prediction),
            StageRow(stage: "decode", statistics: stages.decode),
            StageRow(stage: "total", statistics: total),
        ]
    }

    /// "cpu 3, neuralEngine 118"; nil where the OS has no compute plan.
    public var operationSummary: String? {
        report.operationCounts.map { counts in
            counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
    }
}

public struct StageRow: Sendable, Identifiable {
    public let stage: String
    public let statistics: LatencyStatistics
    public var id: String { stage }
}

/// Everything a benchmark run measured; written as JSON by both front ends.
public struct BenchmarkResults: Sendable, Codable {
    /// A sample photo and its upright size.
    public struct Image: Sendable, Codable {
        public let name: String
        public let width: Int
        public let height: Int

        init(_ image: BenchmarkImage) {
            let upright = ImageOrientation(image.orientation).uprightSize(width: image.image.width, height: image.image.height)
            name = image.name
            width = upright.width
            height = upright.height
        }
    }

    /// The model's file name.
    public let model: String
    public let date: Date
    /// `ProcessInfo.ThermalState` before the first analysis; each report holds the state at the end.
    public let thermalStateAtStart: String
    public let images: [Image]
    public let imagesWithoutFace: [String]
    /// Compiling the model, or finding it compiled in the cache on later runs.
    public let compileSeconds: TimeInterval
    public let computeUnits: [ComputeUnitResult]

    /// A file name that sorts by date and tells devices apart, e.g. "hairnet-benchmark-iPad8,9-20250101-120000.json".
    public var fileName: String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let device = (computeUnits.first?.report.device ?? "unknown")
            .map { $0.isLetter || $0.isNumber || $0 == "," ? String($0) : "-" }.joined()
        return "hairnet-benchmark-\(device)-\(formatter.string(from: date)).json"
    }

    /// Pretty-printed with sorted keys and ISO 8601 dates, so that reports diff well.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }
}

public enum BenchmarkError: Error, Sendable {
    case invalidOptions(String)
    case noPhotos(directories: [String])
    case unreadablePhoto(path: String)
    case noFace(photos: [String])
    /// Vision found a face while screening the photos but not during an analysis.
    case faceLost(photo: String, computeUnits: String)
    case invalidTimings(computeUnits: String)
}

extension BenchmarkError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case let .invalidOptions(reason):
            "invalid benchmark options: \(reason)"
        case let .noPhotos(directories):
            "no image files in \(directories.joined(separator: ", ")): add photos with a face"
        case let .unreadablePhoto(path):
            "cannot decode the image '\(path)'"
        case let .noFace(photos):
            "Vision finds no face in any photo (\(photos.joined(separator: ", "))): add photos with a face"
        case let .faceLost(photo, computeUnits):
            "no face found in '\(photo)' during the analysis with \(computeUnits), although screening found one"
        case let .invalidTimings(computeUnits):
            "non-finite timings with \(computeUnits)"
        }
    }

    public var errorDescription: String? { description }
}

extension PerStage where Value == TimeInterval {
    /// The whole pipeline: the sum of the stages.
    public var total: TimeInterval { faceDetection + crop + prediction + decode }
}

extension MLComputeUnits {
    /// The case's Swift name ("cpuAndNeuralEngine"), used in reports and on the command line.
    public var benchmarkName: String {
        switch self {
        case .cpuOnly: return "cpuOnly"
        case .cpuAndGPU: return "cpuAndGPU"
        case .cpuAndNeuralEngine: return "cpuAndNeuralEngine"
        case .all: return "all"
        @unknown default: return "MLComputeUnits(rawValue: \(rawValue))"
        }
    }

    /// The compute units whose ``benchmarkName`` is `name`.
    public init?(benchmarkName name: String) {
        guard let units = BenchmarkOptions.allComputeUnits.first(where: { $0.benchmarkName == name }) else { return nil }
        self = units
    }
}

@available(iOS 17.0, macOS 14.0, *)
extension MLComputeDevice {
    fileprivate var benchmarkName: String {
        switch self {
        case .cpu: return "cpu"
        case .gpu: return "gpu"
        case .neuralEngine: return "neuralEngine"
        @unknown default: return "other"
        }
    }
}

extension ProcessInfo.ThermalState {
    fileprivate var name: String {
        switch self {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return "unknown"
        }
    }
}
#endif
