#if canImport(CoreML) && canImport(Vision)
import CoreGraphics
import CoreImage
import CoreML
import CoreVideo
import Foundation
import HairNetCore
import ImageIO
import Vision

/// Finds the faces in a photo with Vision, cuts a head crop around each, runs HairNet on it
/// with Core ML and decodes the outputs.
///
/// An actor, so that one loaded model serves every caller, one analysis at a time and off the
/// main thread. Create it once (loading compiles the model on first use) and keep it.
public actor HairAnalyzer {
    /// The contract read from the model's metadata: threshold, crop rule, training data.
    public nonisolated let contract: HairNetContract
    private let model: MLModel
    /// Converts camera frames to CGImages; created on first use.
    private lazy var frameContext = CIContext()

    /// Loads a HairNet model and checks its contract and interface.
    ///
    /// - Parameters:
    ///   - modelURL: an `.mlpackage` or `.mlmodel` (compiled on the device on first use and
    ///     cached by content) or a compiled `.mlmodelc`; nil for the model bundled with HairNetKit.
    ///   - computeUnits: where Core ML may run the model. The default keeps it off the GPU,
    ///     which the app may need for rendering, and lets the Neural Engine run it.
    /// - Throws: ``HairNetError`` for a missing file, a model without the contract's metadata,
    ///   inputs or outputs; Core ML's errors when it cannot compile or load the model.
    public init(modelURL: URL? = nil, computeUnits: MLComputeUnits = .cpuAndNeuralEngine) async throws {
        let source = try modelURL ?? Self.bundledModelURL()
        let compiled = try await CompiledModelCache.compiledModel(at: source)
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits
        let model = try MLModel(contentsOf: compiled, configuration: configuration)
        let description = model.modelDescription
        contract = try HairNetContract(metadata: description.metadata[.creatorDefinedKey] as? [String: String] ?? [:])
        try Self.checkInterface(description)
        self.model = model
    }

    /// Analyses every face Vision finds in `image`, largest first; empty when there is none.
    ///
    /// - Parameters:
    ///   - image: the photo as stored.
    ///   - orientation: how to turn it upright (a photo's EXIF orientation, or
    ///     `UIImage.imageOrientation` converted). Face boxes, crops and label maps are all in
    ///     the upright image, which is what the model was trained on.
    public func analyze(_ image: CGImage, orientation: CGImagePropertyOrientation = .up) async throws -> [HairAnalysis] {
        let upright = ImageOrientation(orientation).uprightSize(width: image.width, height: image.height)
        let (faces, detectionSeconds) = try timed { () throws -> [FaceBox] in
            let request = VNDetectFaceRectanglesRequest()
            try VNImageRequestHandler(cgImage: image, orientation: orientation, options: [:]).perform([request])
            // Given the orientation, Vision normalises boxes to the upright image.
            return (request.results ?? []).map { face in
                let box = face.boundingBox
                return FaceBox(
                    visionBoundingBox: (
                        x: Double(box.origin.x), y: Double(box.origin.y),
                        width: Double(box.size.width), height: Double(box.size.height)),
                    imageWidth: upright.width, imageHeight: upright.height)
            }
        }
        return try faces.sorted { $0.width * $0.height > $1.width * $1.height }.map { face in
            try analyzeFace(face, in: image, orientation: orientation, faceDetectionSeconds: detectionSeconds)
        }
    }

    /// Analyses every face in a camera frame (any pixel format Core Image reads).
    ///
    /// The frame is converted to a CGImage first; that conversion is in no stage's timing.
    public func analyze(pixelBuffer: CVPixelBuffer, orientation: CGImagePropertyOrientation = .up) async throws -> [HairAnalysis] {
        let frame = CIImage(cvPixelBuffer: pixelBuffer)
        guard let image = frameContext.createCGImage(frame, from: frame.extent) else {
            throw HairNetError.imageRendering(
                "cannot convert a \(CVPixelBufferGetWidth(pixelBuffer))×\(CVPixelBufferGetHeight(pixelBuffer)) pixel buffer")
        }
        return try await analyze(image, orientation: orientation)
    }

    /// Analyses the face at `faceBox` (top-left-origin pixels of the upright image), for apps
    /// that detect faces themselves; its face-detection time is zero.
    public func analyze(_ image: CGImage, faceBox: CGRect, orientation: CGImagePropertyOrientation = .up) async throws -> HairAnalysis {
        let face = FaceBox(
            x: Double(faceBox.minX), y: Double(faceBox.minY), width: Double(faceBox.width), height: Double(faceBox.height))
        return try analyzeFace(face, in: image, orientation: orientation, faceDetectionSeconds: 0)
    }

    private func analyzeFace(
        _ face: FaceBox, in image: CGImage, orientation: CGImagePropertyOrientation, faceDetectionSeconds: TimeInterval
    ) throws -> HairAnalysis {
        let imageOrientation = ImageOrientation(orientation)
        let upright = imageOrientation.uprightSize(width: image.width, height: image.height)
        let (crop, cropSeconds) = try timed { () throws -> (box: CropBox, input: CVPixelBuffer) in
            let box = try contract.cropRule.cropBox(for: face)
            return (box, try makeModelInput(from: image, orientation: imageOrientation, cropBox: box))
        }
        let (features, predictionSeconds) = try timed {
            try model.prediction(from: MLDictionaryFeatureProvider(
                dictionary: [HairNetContract.inputName: MLFeatureValue(pixelBuffer: crop.input)]))
        }
        let (decoded, decodeSeconds) = try timed { () throws -> (outputs: DecodedOutputs, labelMap: LabelMap) in
            let outputs = try DecodedOutputs(
                segmentation: OutputTensor(.segmentation, from: features),
                hairColor: OutputTensor(.hairColor, from: features),
                attributes: OutputTensor(.attributes, from: features),
                threshold: contract.threshold)
            let labelMap = try outputs.labelMap.pastedIntoPhoto(width: upright.width, height: upright.height, cropBox: crop.box)
            return (outputs, labelMap)
        }
        return HairAnalysis(
            faceBox: CGRect(x: face.x, y: face.y, width: face.width, height: face.height),
            cropBox: crop.box,
            labelMap: decoded.labelMap,
            hairColor: decoded.outputs.hairColor,
            attributes: decoded.outputs.attributes,
            timings: StageTimings(
                faceDetection: faceDetectionSeconds, crop: cropSeconds, prediction: predictionSeconds, decode: decodeSeconds))
    }

    /// HairNet.mlpackage, copied into HairNetKit's resource bundle by SwiftPM.
    private static func bundledModelURL() throws -> URL {
        guard let url = Bundle.module.url(forResource: "HairNet", withExtension: "mlpackage") else {
            throw HairNetError.invalidModelFile(path: "HairNet.mlpackage", reason: "not in HairNetKit's resource bundle")
        }
        return url
    }

    /// Refuses a model whose input or outputs differ from the contract's (DESIGN.md §3, §5).
    private static func checkInterface(_ description: MLModelDescription) throws {
        let side = HairNetContract.inputSize
        guard let image = description.inputDescriptionsByName[HairNetContract.inputName]?.imageConstraint,
              image.pixelsWide == side, image.pixelsHigh == side
        else {
            throw HairNetError.modelInterface(feature: HairNetContract.inputName, expected: "a \(side)×\(side) image input")
        }
        for output in ModelOutput.allCases where description.outputDescriptionsByName[output.rawValue]?.type != .multiArray {
            throw HairNetError.modelInterface(feature: output.rawValue, expected: "a multi-array output")
        }
    }
}
#endif
