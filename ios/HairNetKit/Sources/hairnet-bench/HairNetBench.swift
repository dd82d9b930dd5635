import Foundation

@main
enum HairNetBench {
    static func main() async {
        #if canImport(CoreML) && canImport(Vision)
        let options: Options
        do {
            options = try Options(arguments: Array(CommandLine.arguments.dropFirst()))
        } catch {
            fail("\(error)\n\n\(Options.usage)", status: 64)  // EX_USAGE
        }
        if options.showHelp {
            print(Options.usage)
            return
        }
        do {
            try await benchmark(options)
        } catch {
            fail("\(error)")
        }
        #else
        fail("needs Core ML and Vision, which only Apple platforms have: run it on a Mac (Apple silicon, macOS 13 or later)")
        #endif
    }

    static func fail(_ message: String, status: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("hairnet-bench: \(message)\n".utf8))
        exit(status)
    }
}
