import SwiftUI

@main
struct HairNetBenchmarkApp: App {
    var body: some Scene {
        WindowGroup {
            BenchmarkView()
        }
    }
}
