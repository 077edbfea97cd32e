import Foundation
import Testing

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The .deb that `make deb` wrote (`make test` builds it first): installed with apt into minimal debootstrap chroots
/// of Debian 11, 12 and 13 and run there (Tests/Packaging/deb-test.sh), as root.
@Suite("tpudeploy .deb on Debian 11, 12 and 13", .serialized)
struct DebPackageTests {
    @Test("installs with apt and runs --version, version --json, layout show, fix-memory --dry-run",
          arguments: ["bullseye", "bookworm", "trixie"])
    func installsAndRuns(suite: String) throws {
        let build = repositoryRoot.appendingPathComponent("build")
        let debs = ((try? FileManager.default.contentsOfDirectory(atPath: build.path)) ?? [])
            .filter { $0.hasPrefix("tpudeploy_") && $0.hasSuffix(".deb") }.sorted()
        let deb = try #require(debs.last, "no build/tpudeploy_*.deb: run `make deb` (make test does) before this test")
        #expect(getuid() == 0, "debootstrap and chroot need root")
        let output = try SimulatedBoardHarness.run("/bin/bash", [repositoryRoot.appendingPathComponent("Tests/Packaging/deb-test.sh").path,
                                                                 build.appendingPathComponent(deb).path, suite])
        #expect(output.contains("deb-test [\(suite)]: \(deb) installs and runs"), "\(output)")
    }
}
