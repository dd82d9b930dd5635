#if canImport(CoreML) && canImport(Vision)
import CoreML
import CryptoKit
import Foundation
import HairNetCore

/// Compiles `.mlpackage` and `.mlmodel` files on the device once per content, and keeps the
/// compiled `.mlmodelc` in Caches: if the system purges it, the model is compiled again.
enum CompiledModelCache {
    /// A compiled model for `source`; an `.mlmodelc` is returned as it is.
    static func compiledModel(at source: URL) async throws -> URL {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: source.path) else {
            throw HairNetError.invalidModelFile(path: source.path, reason: "no such file or directory")
        }
        switch source.pathExtension.lowercased() {
        case "mlmodelc": return source
        case "mlpackage", "mlmodel": break
        default: throw HairNetError.invalidModelFile(path: source.path, reason: "expected .mlpackage, .mlmodel or .mlmodelc")
        }
        let directory = try fileManager.url(for: .cachesDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            .appendingPathComponent("HairNetKit", isDirectory: true)
        let destination = directory.appendingPathComponent("\(try contentDigest(of: source)).mlmodelc", isDirectory: true)
        if fileManager.fileExists(atPath: destination.path) { return destination }
        // Compiled into a temporary directory, which must be moved to be kept.
        let compiled = try await MLModel.compileModel(at: source)
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            try fileManager.moveItem(at: compiled, to: destination)
        } catch {
            // Another analyzer compiled the same content meanwhile: use its copy.
            guard fileManager.fileExists(atPath: destination.path) else { throw error }
            try? fileManager.removeItem(at: compiled)
        }
        return destination
    }

    /// SHA-256 of every file's relative path, size and bytes, in path order.
    private static func contentDigest(of source: URL) throws -> String {
        let isDirectory = try source.resourceValues(forKeys: [.isDirectoryKey]).isDirectory ?? false
        let paths = isDirectory ? try FileManager.default.subpathsOfDirectory(atPath: source.path).sorted() : [""]
        var hasher = SHA256()
        for path in paths {
            let file = path.isEmpty ? source : source.appendingPathComponent(path)
            guard try file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
            let contents = try Data(contentsOf: file, options: .mappedIfSafe)
            hasher.update(data: Data("\(path)\u{0}\(contents.count)\u{0}".utf8))
            hasher.update(data: contents)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
#endif
