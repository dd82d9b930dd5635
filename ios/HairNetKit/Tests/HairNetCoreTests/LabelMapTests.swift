import Testing
@testable import HairNetCore

@Suite("Label maps")
struct LabelMapTests {
    @Test("label maps check their size and their values")
    func validation() throws {
        let map = try LabelMap(width: 3, height: 2, labels: [0, 1, 2, 2, 1, 0])
        #expect(map[2, 0] == .hair && map[1, 1] == .skin && map[2, 1] == .background)
        let invalid: [(Int, Int, [UInt8])] = [(3, 2, [0, 1, 2]), (2, 2, [0, 1, 3, 0]), (0, 0, []), (-1, -2, [0, 0])]
        for (width, height, labels) in invalid {
            #expect(throws: HairNetError.self) { try LabelMap(width: width, height: height, labels: labels) }
        }
    }

    @Test("tinting blends hair and skin over premultiplied RGBA, leaving background and row padding")
    func tint() throws {
        let map = try LabelMap(width: 3, height: 1, labels: [2, 1, 0])
        let bytesPerRow = 16  // 12 bytes of pixels, 4 of padding
        var pixels: [UInt8] = [100, 100, 100, 255, 0, 0, 0, 255, 10, 20, 30, 255, 9, 9, 9, 9]
        let hair = OverlayColor(red: 255, green: 0, blue: 100, opacity: 0.5)
        let skin = OverlayColor(red: 0, green: 200, blue: 0, opacity: 0.25)
        pixels.withUnsafeMutableBytes { map.tint(pixels: $0, bytesPerRow: bytesPerRow, hair: hair, skin: skin) }
        #expect(Array(pixels[0 ..< 4]) == [178, 50, 100, 255])  // (255 + 100) / 2 rounds to 178
        #expect(Array(pixels[4 ..< 8]) == [0, 50, 0, 255])
        #expect(Array(pixels[8...]) == [10, 20, 30, 255, 9, 9, 9, 9])
    }
}
