import Foundation
import Testing

private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The .deb that `make deb` wrote (`make test` builds it first): installed with apt into minimal debootstrap chroots
/// of Debian 11 (glibc 2.31, as Ubuntu 20.04), 12 and 13 and run there (Tests/Packaging/deb-test.sh), as root. The
/// binary is linked against a Debian 11 sysroot, so it runs on all three. From inside the Debian 11 chroot, the
/// installed tpudeploy also works on a simulated board that this build's `tpudeploy sim up` starts on the host:
/// inspect, push (refused on the factory layout), fix-memory, push, and the pushed files are read back over SSH.
@Suite("tpudeploy .deb and make install", .serialized)
struct DebPackageTests {
    @Test("installs with apt and runs --version, version --json, layout show, fix-memory --dry-run; on Debian 11 also inspect and push to a simulated board",
          arguments: ["bullseye", "bookworm", "trixie"])
    func installsAndRuns(suite: String) throws {
        let build = repositoryRoot.appendingPathComponent("build")
        let debs = ((try? FileManager.default.contentsOfDirectory(atPath: build.path)) ?? [])
            .filter { $0.hasPrefix("tpudeploy_") && $0.hasSuffix(".deb") }.sorted()
        let deb = try #require(debs.last, "no build/tpudeploy_*.deb: run `make deb` (make test does) before this test")
        #expect(getuid() == 0, "debootstrap, chroot and the simulator need root")
        let script = repositoryRoot.appendingPathComponent("Tests/Packaging/deb-test.sh").path
        let debPath = build.appendingPathComponent(deb).path
        // The oldest release is where a board is worked on: the host's simulator is this build's tpudeploy.
        let board = suite == "bullseye"
        let hostTPUDeploy = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy").path
        let output = try SimulatedBoardHarness.run("/bin/bash", [script] + (board ? ["--sim", hostTPUDeploy] : []) + [debPath, suite])
        #expect(output.contains("deb-test [\(suite)]: \(deb) installs and runs"), "\(output)")
        if board {
            #expect(output.contains("deb-test [\(suite)]: inspect, push, fix-memory, push on a simulated board from Debian GNU/Linux 11"), "\(output)")
        }
    }

    @Test("make install PREFIX=/usr/local finds its resources beside its bin/; make uninstall removes every file")
    func installAndUninstall() throws {
        let output = try SimulatedBoardHarness.run("/bin/bash", [repositoryRoot.appendingPathComponent("Tests/Packaging/install-test.sh").path])
        #expect(output.contains("install-test: make install and make uninstall"), "\(output)")
    }
}
