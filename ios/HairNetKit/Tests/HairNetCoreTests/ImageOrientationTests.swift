import Testing
@testable import HairNetCore

@Suite("Image orientation")
struct ImageOrientationTests {
    /// Where the stored pixel (0, 0) appears in the upright image and which way stored +x and +y
    /// run there, transcribed from the CGImagePropertyOrientation documentation.
    struct Layout: Sendable, CustomTestStringConvertible {
        let orientation: ImageOrientation
        let origin: (x: Int, y: Int)  // in units of the upright (width − 1, height − 1)
        let xStep: (x: Int, y: Int)
        let yStep: (x: Int, y: Int)
        var testDescription: String { "\(orientation)" }
    }

    static let layouts = [
        Layout(orientation: .up, origin: (0, 0), xStep: (1, 0), yStep: (0, 1)),
        Layout(orientation: .upMirrored, origin: (1, 0), xStep: (-1, 0), yStep: (0, 1)),
        Layout(orientation: .down, origin: (1, 1), xStep: (-1, 0), yStep: (0, -1)),
        Layout(orientation: .downMirrored, origin: (0, 1), xStep: (1, 0), yStep: (0, -1)),
        Layout(orientation: .leftMirrored, origin: (0, 0), xStep: (0, 1), yStep: (1, 0)),
        Layout(orientation: .right, origin: (1, 0), xStep: (0, 1), yStep: (-1, 0)),
        Layout(orientation: .rightMirrored, origin: (1, 1), xStep: (0, -1), yStep: (-1, 0)),
        Layout(orientation: .left, origin: (0, 1), xStep: (0, -1), yStep: (1, 0)),
    ]

    @Test("raw values are the EXIF numbers 1–8 in CGImagePropertyOrientation's order")
    func rawValues() {
        #expect(ImageOrientation.allCases.map(\.rawValue) == Array(1 ... 8))
        #expect(Self.layouts.map(\.orientation) == ImageOrientation.allCases)
        #expect(ImageOrientation(rawValue: 0) == nil && ImageOrientation(rawValue: 9) == nil)
    }

    @Test("EXIF values 1–8 map to the orientation of the same number; anything else is upright, as in Python")
    func exifValues() {
        for value in 1 ... 8 {
            #expect(ImageOrientation(exifValue: value).rawValue == UInt32(value))
        }
        for value in [nil, 0, 9, 255, 65535, -1, -6, Int.max, Int.min] as [Int?] {
            #expect(ImageOrientation(exifValue: value) == .up, "EXIF value \(String(describing: value))")
        }
    }

    @Test("upright size swaps width and height for the quarter turns only", arguments: ImageOrientation.allCases)
    func uprightSize(orientation: ImageOrientation) {
        let size = orientation.uprightSize(width: 4032, height: 3024)
        let quarterTurn: Set<ImageOrientation> = [.leftMirrored, .right, .rightMirrored, .left]
        #expect(orientation.swapsWidthAndHeight == quarterTurn.contains(orientation))
        #expect(quarterTurn.contains(orientation) ? (size.width == 3024 && size.height == 4032) : (size.width == 4032 && size.height == 3024))
    }

    @Test("every stored pixel lands where the documentation says", arguments: layouts)
    func pixelPlacement(layout: Layout) {
        let (storedWidth, storedHeight) = (4, 3)
        let upright = layout.orientation.uprightSize(width: storedWidth, height: storedHeight)
        let toUpright = layout.orientation.uprightTransform(storedWidth: 4, storedHeight: 3)
        // A CoreGraphics canvas of the upright size showing the whole upright image.
        let drawing = layout.orientation.drawingTransform(
            storedWidth: storedWidth, storedHeight: storedHeight,
            region: (x: 0, y: 0, width: Double(upright.width), height: Double(upright.height)),
            canvasWidth: upright.width, canvasHeight: upright.height)
        for y in 0 ..< storedHeight {
            for x in 0 ..< storedWidth {
                let expectedX = layout.origin.x * (upright.width - 1) + x * layout.xStep.x + y * layout.yStep.x
                let expectedY = layout.origin.y * (upright.height - 1) + x * layout.xStep.y + y * layout.yStep.y
                let centre = toUpright.apply(x: Double(x) + 0.5, y: Double(y) + 0.5)
                #expect(centre.x == Double(expectedX) + 0.5 && centre.y == Double(expectedY) + 0.5, "stored (\(x), \(y))")
                // CoreGraphics draws the stored image y-up and the canvas is y-up too.
                let device = drawing.apply(x: Double(x) + 0.5, y: Double(storedHeight - y) - 0.5)
                #expect(device.x == Double(expectedX) + 0.5, "stored (\(x), \(y))")
                #expect(device.y == Double(upright.height - expectedY) - 0.5, "stored (\(x), \(y))")
            }
        }
    }

    @Test("the drawing transform scales a crop region onto the whole canvas")
    func cropRegion() {
        // Upright region (10, 20)–(110, 120) of a 300×200 photo onto a 224×224 canvas.
        let drawing = ImageOrientation.up.drawingTransform(
            storedWidth: 300, storedHeight: 200, region: (x: 10, y: 20, width: 100, height: 100),
            canvasWidth: 224, canvasHeight: 224)
        let topLeft = drawing.apply(x: 10, y: 200 - 20)  // y-up point of the region's top-left corner
        let bottomRight = drawing.apply(x: 110, y: 200 - 120)
        #expect(abs(topLeft.x) < 1e-9 && abs(topLeft.y - 224) < 1e-9)
        #expect(abs(bottomRight.x - 224) < 1e-9 && abs(bottomRight.y) < 1e-9)
    }
}
