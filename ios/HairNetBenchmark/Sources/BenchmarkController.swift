import Foundation
import HairNetKit
import UIKit

/// Runs the benchmark and publishes what the screen shows. The measuring runs off the main actor,
/// in HairNetKit's `LatencyBenchmark`, the loop `hairnet-bench` runs on a Mac.
@MainActor
final class BenchmarkController: ObservableObject {
    @Published var measuredRuns = 100
    @Published var warmupRuns = 10
    @Published private(set) var photos: [URL] = []
    @Published private(set) var isRunning = false
    @Published private(set) var progress: BenchmarkProgress?
    @Published private(set) var results: BenchmarkResults?
    /// The JSON report of `results`, in Documents.
    @Published private(set) var reportURL: URL?
    @Published private(set) var errorMessage: String?

    /// The photos copied in at build time (SampleImages/), then those the user put in Documents.
    private var photoDirectories: [URL] {
        [Bundle.main.url(forResource: "SampleImages", withExtension: nil), URL.documentsDirectory].compactMap { $0 }
    }

    func refreshPhotos() {
        do {
            photos = try BenchmarkImage.files(in: photoDirectories)
        } catch {
            errorMessage = error.localizedDescription
        }
    }

    func run() {
        guard !isRunning else { return }
        let options = BenchmarkOptions(warmupRuns: warmupRuns, measuredRuns: measuredRuns)
        let directories = photoDirectories
        isRunning = true
        errorMessage = nil
        // Auto-lock would suspend the app in the middle of a run.
        UIApplication.shared.isIdleTimerDisabled = true
        Task {
            do {
                let results = try await LatencyBenchmark.run(model: nil, imageDirectories: directories, options: options) {
                    self.progress = $0
                }
                let url = URL.documentsDirectory.appendingPathComponent(results.fileName)
                try results.jsonData().write(to: url, options: .atomic)
                self.results = results
                reportURL = url
            } catch {
                errorMessage = error.localizedDescription
            }
            UIApplication.shared.isIdleTimerDisabled = false
            isRunning = false
            progress = nil
        }
    }
}
