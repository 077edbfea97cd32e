import Foundation
import Testing

@testable import TPUDeployKit

/// The pure-Swift digests, checked on standard vectors and against coreutils on the fixture kernel.
@Suite struct FITHashAlgorithmTests {
    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func standardVectors() {
        let check = Array("123456789".utf8)
        #expect(hex(FITHashAlgorithm.crc32.digest(check)) == "cbf43926")
        #expect(hex(FITHashAlgorithm.sha1.digest(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(FITHashAlgorithm.sha256.digest(Array("abc".utf8)))
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(FITHashAlgorithm.sha256.digest([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Two-block message (56 bytes pads into a second block).
        let twoBlocks = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(hex(FITHashAlgorithm.sha1.digest(twoBlocks)) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(hex(FITHashAlgorithm.sha256.digest(twoBlocks))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func matchesCoreutilsOnTheFixtureKernel() throws {
        let url = try BootImageFixture.url("fit-16g/work/Image")
        let bytes = [UInt8](try Data(contentsOf: url))
        let sha1 = try Tool.output("sha1sum", [url.path]).prefix(40)
        let sha256 = try Tool.output("sha256sum", [url.path]).prefix(64)
        #expect(hex(FITHashAlgorithm.sha1.digest(bytes)) == sha1)
        #expect(hex(FITHashAlgorithm.sha256.digest(bytes)) == sha256)
    }
}
