import Foundation
import Testing

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The .deb that `make deb` wrote (`make test` builds it first): installed with apt into minimal debootstrap chroots
/// of Debian 12 and 13 and run there (Tests/Packaging/deb-test.sh), as root. Debian 11 (glibc 2.31) is not yet
/// supported: the binary is linked against this host's glibc 2.36 and needs 2.34's symbols.
@Suite("tpudeploy .deb and make install", .serialized)
struct DebPackageTests {
    @Test("installs with apt and runs --version, version --json, layout show, fix-memory --dry-run",
          arguments: ["bookworm", "trixie"])
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

    @Test("make install PREFIX=/usr/local finds its resources beside its bin/; make uninstall removes every file")
    func installAndUninstall() throws {
        let output = try SimulatedBoardHarness.run("/bin/bash", [repositoryRoot.appendingPathComponent("Tests/Packaging/install-test.sh").path])
        #expect(output.contains("install-test: make install and make uninstall"), "\(output)")
    }
}
