#if canImport(CoreML) && canImport(Vision)
import CoreGraphics
import CoreML
import Foundation
import HairNetKit
import ImageIO
import Testing

/// Needs the real HairNet.mlpackage in Sources/HairNetKit/Resources; runs on Apple platforms only.
@Suite("HairAnalyzer")
struct HairAnalyzerTests {
    /// A smooth colour gradient: nothing a face detector takes for a face.
    private func gradientImage(width: Int, height: Int) throws -> CGImage {
        let context = try #require(CGContext(
            data: nil, width: width, height: height, bitsPerComponent: 8, bytesPerRow: 0,
            space: CGColorSpace(name: CGColorSpace.sRGB)!, bitmapInfo: CGImageAlphaInfo.premultipliedLast.rawValue))
        let pixels = try #require(context.data).assumingMemoryBound(to: UInt8.self)
        for y in 0 ..< height {
            for x in 0 ..< width {
                let pixel = pixels + y * context.bytesPerRow + 4 * x
                (pixel[0], pixel[1], pixel[2], pixel[3]) = (UInt8(255 * x / width), UInt8(255 * y / height), 128, 255)
            }
        }
        return try #require(context.makeImage())
    }

    @Test("the bundled model loads and carries the contract")
    func bundledModel() async throws {
        let analyzer = try await HairAnalyzer()
        #expect(analyzer.contract.threshold > 0 && analyzer.contract.threshold < 1)
        #expect(analyzer.contract.cropRule.k > 0)
        #expect(!analyzer.contract.trainingData.isEmpty)
    }

    @Test("an image without a face gives no analyses")
    func noFace() async throws {
        let analyzer = try await HairAnalyzer(computeUnits: .cpuOnly)
        #expect(try await analyzer.analyze(gradientImage(width: 320, height: 240)).isEmpty)
    }

    @Test("a synthetic photo stored sideways is analysed in its upright frame")
    func syntheticImageWithGivenFace() async throws {
        let analyzer = try await HairAnalyzer(computeUnits: .cpuOnly)
        let stored = try gradientImage(width: 300, height: 200)  // upright it is 200 × 300
        let faceBox = CGRect(x: 50, y: 80, width: 100, height: 120)
        let analysis = try await analyzer.analyze(stored, faceBox: faceBox, orientation: .right)
        #expect(analysis.faceBox == faceBox)
        #expect(analysis.cropBox == (try analyzer.contract.cropRule.cropBox(for: FaceBox(x: 50, y: 80, width: 100, height: 120))))
        #expect(analysis.labelMap.width == 200 && analysis.labelMap.height == 300)
        #expect(analysis.hairColor.probabilities.count == HairColor.allCases.count)
        #expect(abs(analysis.hairColor.probabilities.reduce(0, +) - 1) < 0.01)
        #expect(analysis.attributes.map(\.attribute) == HairAttribute.allCases)
        #expect(analysis.timings.faceDetection == 0 && analysis.timings.prediction > 0)
        let overlay = try analysis.labelMap.overlay(on: stored, orientation: .right)
        #expect(overlay.width == 200 && overlay.height == 300)
        #expect(throws: HairNetError.self) { try analysis.labelMap.overlay(on: stored, orientation: .up) }
    }

    @Test("a missing model file is a typed error")
    func missingModel() async {
        await #expect(throws: HairNetError.self) {
            _ = try await HairAnalyzer(modelURL: URL(fileURLWithPath: "/nonexistent/HairNet.mlpackage"))
        }
    }
}
#endif
