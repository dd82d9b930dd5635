import HairNetKit
import SwiftUI

struct BenchmarkView: View {
    @StateObject private var controller = BenchmarkController()
    @Environment(\.scenePhase) private var scenePhase

    var body: some View {
        NavigationStack {
            Form {
                Section("Photos") {
                    if controller.photos.isEmpty {
                        Text("""
                            No photos yet. Copy photos with a face into this app's folder (Files › On My iPad › \
                            HairNet Bench, or the iPad's Files tab in Finder), or into \
                            ios/HairNetBenchmark/SampleImages before building.
                            """)
                    } else {
                        Text(controller.photos.map(\.lastPathComponent).joined(separator: ", "))
                    }
                }
                Section("Runs") {
                    Stepper(
                        "Timed analyses per compute unit: \(controller.measuredRuns)",
                        value: $controller.measuredRuns, in: 10 ... 1000, step: 10)
                    Stepper("Warm-up analyses: \(controller.warmupRuns)", value: $controller.warmupRuns, in: 0 ... 100, step: 5)
                    if let progress = controller.progress {
                        ProgressView(value: progress.fractionCompleted) { Text(progress.message) }
                    } else {
                        Button("Run on cpuOnly, cpuAndGPU, cpuAndNeuralEngine and all") { controller.run() }
                            .disabled(controller.photos.isEmpty)
                    }
                }
                .disabled(controller.isRunning)
                if let message = controller.errorMessage {
                    Section("Error") {
                        Text(message).foregroundStyle(.red)
                    }
                }
                if let results = controller.results {
                    ResultsSections(results: results)
                }
            }
            .navigationTitle("HairNet Benchmark")
            .toolbar {
                ToolbarItem(placement: .primaryAction) {
                    if let url = controller.reportURL {
                        ShareLink(item: url)
                    }
                }
            }
        }
        .onAppear { controller.refreshPhotos() }
        // Photos may have been added in the Files app meanwhile.
        .onChange(of: scenePhase) { phase in
            if phase == .active { controller.refreshPhotos() }
        }
    }
}

/// Where the figures were measured, then a table per compute unit (milliseconds).
struct ResultsSections: View {
    let results: BenchmarkResults

    var body: some View {
        Section("Measured on") {
            if let report = results.computeUnits.first?.report {
                LabeledContent("Device", value: report.device)
                LabeledContent("System", value: report.operatingSystem)
                LabeledContent("Thermal state", value: "\(results.thermalStateAtStart) → \(report.thermalState)")
                LabeledContent("Analyses", value: "\(report.measuredRuns) timed after \(report.warmupRuns) warm-up")
            }
            LabeledContent("Model", value: results.model)
            LabeledContent("Photos", value: "\(results.images.count)")
            if !results.imagesWithoutFace.isEmpty {
                LabeledContent("Left out, no face", value: results.imagesWithoutFace.joined(separator: ", "))
            }
        }
        ForEach(results.computeUnits) { unit in
            Section(unit.id) {
                Grid(alignment: .trailing, horizontalSpacing: 20, verticalSpacing: 6) {
                    GridRow {
                        Text("ms").gridColumnAlignment(.leading)
                        Text("median")
                        Text("p90")
                        Text("p99")
                    }
                    .font(.caption)
                    .foregroundStyle(.secondary)
                    ForEach(unit.rows) { row in
                        GridRow {
                            Text(row.stage)
                            Text(LatencyBenchmark.milliseconds(row.statistics.median))
                            Text(LatencyBenchmark.milliseconds(row.statistics.p90))
                            Text(LatencyBenchmark.milliseconds(row.statistics.p99))
                        }
                        .font(.body.monospacedDigit())
                    }
                }
                LabeledContent("Model load", value: "\(LatencyBenchmark.milliseconds(unit.loadSeconds)) ms")
                LabeledContent("First analysis", value: "\(LatencyBenchmark.milliseconds(unit.firstAnalysis.total)) ms")
                if let operations = unit.operationSummary {
                    LabeledContent("Operations on", value: operations)
                }
            }
        }
    }
}
