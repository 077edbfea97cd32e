import Foundation
import Testing
import TPUDeploySimulator

/// The simulated board checked with real tools only: OpenSSH's client, sshpass, the board's own `free`,
/// `bm-smi`, `dumpimage`, and the host's `ip` and mount table.
@Suite("simulated BM1684X boards", .serialized, .enabled(if: getuid() == 0, "needs root for namespaces and mounts"))
struct SimulatorTests {
    /// The factory 16 GB split: NPU heap 0xF6E00000 bytes.
    static let factoryNPU16G: UInt64 = 0xF6E0_0000

    @Test func aBoardAnswersSSHByKeyAndShowsItsFactoryLayoutThroughRealTools() throws {
        try withSimulator { simulator, boards in
            let board = try #require(boards.first)
            #expect(board.name == "evb1")
            #expect(board.hostKeyFingerprint.hasPrefix("SHA256:"))
            #expect(try simulator.state(of: board.name) == .up)
            #expect(try simulator.liveHeaps(of: board.name) == ["npu": Self.factoryNPU16G, "vpu": 0x7FF0_0000, "vpp": 3 << 30])

            #expect(try ssh(board, "hostname") == board.name)
            #expect(try ssh(board, "cat /sys/kernel/debug/ion/bm_npu_heap_dump/total_mem") == String(Self.factoryNPU16G))
            #expect(try ssh(board, "cat /sys/kernel/debug/ion/bm_vpp_heap_dump/total_mem") == String(3 << 30))
            #expect(try ssh(board, "cat /sys/firmware/devicetree/base/info/file-name | od -An -c | tr -s ' '")
                .hasSuffix(". d t b \\0"))
            #expect(try ssh(board, "tr -d '\\000' < /sys/firmware/devicetree/base/info/file-name") == "bm1684x_evb_v0.0.dtb")

            // Linux gets the DDR minus every non-reusable reserved region minus 48 MiB for the kernel.
            let regions: [UInt64] = [0x2000_0000, 0x400_0000, 0x10_0000, Self.factoryNPU16G, 0x4_0000, 0x400_0000,
                                     0x10_0000, 0x800_0000, 0x7FF0_0000, 0xC000_0000]
            let reserved = regions.reduce(0, +)
            let ddr: UInt64 = 16 << 30, kernel: UInt64 = 48 << 20
            let expectedKiB = (ddr - reserved - kernel) / 1024
            #expect(try ssh(board, "free -b | awk '/^Mem:/ {print $2}'") == String(expectedKiB * 1024))

            // bm-smi as the SoC package installs it: on a login shell's PATH only (profile.d), no --text_format,
            // and a curses screen whose Memory-Usage adds up the NPU, VPU and VPP heaps.
            #expect(try run("/usr/bin/ssh", sshOptions(board) + ["root@\(board.host)", "command -v bm-smi"]).status == 1)
            #expect(try ssh(board, "bash -lc 'command -v bm-smi'") == "/opt/sophon/libsophon-current/bin/bm-smi")
            let textFormat = try run("/usr/bin/ssh", sshOptions(board) + ["root@\(board.host)", "bash -lc 'bm-smi --text_format'"])
            #expect(textFormat.status == 1 && textFormat.output.contains("ERROR: unknown command line flag 'text_format'"))
            let smi = try ssh(board, "bash -lc 'bm-smi --noloop'")
            #expect(smi.contains("SDK Version:    0.4.9") && smi.contains("Driver Version:  0.4.9"))
            #expect(smi.contains("1684X-SOC") && smi.contains("\u{1B}[H"))
            let heapsMiB = (Self.factoryNPU16G >> 20) + 2047 + 3072
            #expect(smi.contains(" 0MB/\(heapsMiB)MB"))
            // Without --noloop and without a terminal it never ends on its own.
            #expect(try ssh(board, "timeout 1 /opt/sophon/libsophon-current/bin/bm-smi > /dev/null 2>&1; echo $?") == "124")
            #expect(try ssh(board, "dpkg-query -W -f '${Version}' sophon-soc-libsophon") == "0.4.9")
            #expect(try ssh(board, "cat /sys/module/bmtpu/version") == "0.4.9")

            #expect(try ssh(board, "dumpimage -l /boot/emmcboot.itb >/dev/null && echo accepted") == "accepted")
            #expect(try ssh(board, "ls /boot") == "emmcboot.itb\nmulti.its")
            #expect(try ssh(board, "df -m --output=size /boot | tail -n 1") == "128")
            #expect(try ssh(board, "readlink -f /opt/sophon/libsophon-current") == "/opt/sophon/libsophon-0.4.9")
            #expect(try ssh(board, ". /etc/os-release; echo $PRETTY_NAME") == "Ubuntu 20.04.6 LTS")
            #expect(try ssh(board, "stat -c %U /data") == "linaro")
            // Its own pid namespace: the board's init is PID 1, and no host process is visible.
            #expect(try ssh(board, "tr '\\0' ' ' < /proc/1/cmdline").contains("board-init.sh"))
            let processes = Int(try ssh(board, "ps -e --no-headers | wc -l")) ?? 0
            #expect(processes > 0 && processes < 12)
        }
    }

    @Test func linaroLogsInWithThePasswordAndNeedsSudoForHeapsAndReboot() throws {
        try withSimulator { _, boards in
            let board = try #require(boards.first)
            #expect(try linaro(board, "id -un") == .init(status: 0, output: "linaro"))
            #expect(try linaro(board, "cat /sys/kernel/debug/ion/bm_npu_heap_dump/total_mem").status != 0)
            #expect(try linaro(board, "echo linaro | sudo -S -p '' cat /sys/kernel/debug/ion/bm_npu_heap_dump/total_mem")
                == .init(status: 0, output: String(Self.factoryNPU16G)))
            let refused = try linaro(board, "reboot")
            #expect(refused.status != 0 && refused.output.contains("reboot: must be superuser."))
            #expect(try linaro(board, "echo wrong | sudo -S -p '' true").status != 0)
            // root may not log in with a password, only with the key.
            let rootByPassword = try run("/usr/bin/sshpass", ["-p", "linaro", "/usr/bin/ssh"] + sshOptions(board, key: false)
                + ["root@\(board.host)", "true"])
            #expect(rootByPassword.status != 0)
        }
    }

    @Test func sudoRebootDropsTheConnectionAndTheBoardComesBack() throws {
        try withSimulator(bootDelay: 0.5) { simulator, boards in
            let board = try #require(boards.first)
            let before = try ssh(board, "cat /proc/sys/kernel/random/boot_id; pgrep -x sshd | head -n 1")
            // Left in /run (a tmpfs): gone after the reboot, as on a real board, with /run/lock there again for anyone.
            _ = try ssh(board, "touch /run/lock/tpudeploy-stale.lock /run/stale; mkdir -p /run/tpudeploy/stale")
            let reboot = try linaro(board, "echo linaro | sudo -S -p '' reboot; sleep 10; echo survived")
            #expect(reboot.status == 255)
            #expect(!reboot.output.contains("survived"))
            try simulator.waitUntilUp(board.name, timeout: 300)
            #expect(try simulator.state(of: board.name) == .up)
            #expect(try ssh(board, "pgrep -x sshd | head -n 1") != before.split(separator: "\n").last.map(String.init))
            #expect(try simulator.bootLog(of: board.name).components(separatedBy: "] up").count == 3)
            #expect(try ssh(board, "ls -A /run/lock; ls -d /run/stale /run/tpudeploy 2>/dev/null; stat -c %a /run/lock; true") == "1777")
            #expect(try ssh(board, "cat /sys/kernel/debug/ion/bm_npu_heap_dump/total_mem") == String(Self.factoryNPU16G))
        }
    }

    @Test func aBoardWhoseBootedDtbGotOneByteFlippedIsBrickedAfterReboot() throws {
        try withSimulator { simulator, boards in
            let board = try #require(boards.first)
            let image = URL(fileURLWithPath: board.stateDirectory).appendingPathComponent("boot/emmcboot.itb")
            // Find the board's dtb in the FIT with U-Boot's own tools, then flip one byte of it in place.
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-flip-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: scratch) }
            // The FIT holds every vendor board's dtb: the one this board boots is the one naming its dtb.
            let listing = try run("/usr/bin/dumpimage", ["-l", image.path]).output
            let fdts = listing.split(separator: "\n").compactMap { line -> (index: Int, name: String)? in
                guard line.hasPrefix(" Image "), let open = line.lastIndex(of: "("), line.hasSuffix(")"),
                      line[open...].hasPrefix("(fdt-"), let index = Int(line.split(separator: " ")[1]) else { return nil }
                return (index, String(line[line.index(after: open)..<line.index(before: line.endIndex)]))
            }
            var booted: String?
            for fdt in fdts {
                #expect(try run("/usr/bin/dumpimage", ["-T", "flat_dt", "-p", String(fdt.index), "-o", scratch.path, image.path]).status == 0)
                if try run("/usr/bin/fdtget", ["-t", "s", scratch.path, "/info", "file-name"]).output == "\(board.dtbName).dtb" {
                    booted = fdt.name
                    break
                }
            }
            let bootedFDT = try #require(booted, "no dtb in \(image.path) names \(board.dtbName)")
            let dtb = try Data(contentsOf: scratch)
            var bytes = try Data(contentsOf: image)
            let range = try #require(bytes.range(of: dtb))
            let victim = range.lowerBound + dtb.count / 2
            bytes[victim] ^= 0x01
            let handle = try FileHandle(forWritingTo: image)
            try handle.write(contentsOf: bytes)
            try handle.close()
            // U-Boot's listing does not check hashes: it still accepts the image.
            #expect(try run("/usr/bin/dumpimage", ["-l", image.path]).status == 0)

            try simulator.reboot(board.name)
            #expect(throws: SimulatorError.self) { try simulator.waitUntilUp(board.name, timeout: 20) }
            guard case .bricked(let reason) = try simulator.state(of: board.name) else {
                Issue.record("expected a bricked board, got \(try simulator.state(of: board.name))")
                return
            }
            #expect(reason.contains("hash in \(bootedFDT)"))
            #expect(try run("/usr/bin/ssh", sshOptions(board) + ["-o", "ConnectTimeout=2", "root@\(board.host)", "true"]).status == 255)
        }
    }

    @Test func twoBoardsGetTheirOwnNamesAddressesAndHostKeysAndDownLeavesNothingBehind() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-sim-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let simulator = Simulator(stateDirectory: directory)
        defer { try? simulator.down() }
        var options = Self.smallBoards(bootDelay: 0)
        options.boards = 2
        options.ram = .gb12
        options.dtbName = "bm1684x_sm7m_v0.0"
        options.namePrefix = "sm7m-"
        let boards = try simulator.up(options)
        #expect(boards.map(\.name) == ["sm7m-1", "sm7m-2"])
        #expect(Set(boards.map(\.host)).count == 2)
        #expect(Set(boards.map(\.hostKeyFingerprint)).count == 2)
        #expect(try simulator.list().map(\.state) == [.up, .up])
        // A name that is no board is refused, and nothing is stopped for the names that are.
        #expect {
            try simulator.down(names: ["sm7m-1", "nope"])
        } throws: { error in
            guard case SimulatorError.unknownBoard(let name, _) = error else { return false }
            return name == "nope"
        }
        #expect(try simulator.list().map(\.state) == [.up, .up])
        let knownHosts = try String(contentsOfFile: boards[0].knownHostsFile, encoding: .utf8)
        #expect(boards.allSatisfy { knownHosts.contains("\($0.host) ssh-ed25519 ") })
        for board in boards {
            #expect(try ssh(board, "hostname") == board.name)
            #expect(try ssh(board, "cat /sys/kernel/debug/ion/bm_npu_heap_dump/total_mem") == String(0x8000_0000))
        }
        // Each board has its own /etc, as a real one does: what one writes there (rc.local's temporary files, a
        // systemd unit) is neither the host's nor another board's, and it outlives a reboot.
        let probe = "/etc/tpd-probe-\(UUID().uuidString.prefix(8))"
        _ = try ssh(boards[0], "echo \(boards[0].name) > \(probe)")
        #expect(try ssh(boards[0], "cat \(probe)") == boards[0].name)
        #expect(try ssh(boards[1], "cat \(probe) 2>/dev/null || echo absent") == "absent")
        #expect(!FileManager.default.fileExists(atPath: probe))
        // A second `up` adds a board without clashing with the running ones.
        let third = try simulator.up(Self.smallBoards(bootDelay: 0))
        #expect(third.map(\.name) == ["evb1"])
        #expect(!boards.map(\.host).contains(third[0].host))

        try simulator.down(names: ["sm7m-1"])
        #expect(try simulator.list().map(\.board.name) == ["evb1", "sm7m-2"])
        try simulator.down()
        try simulator.down()  // idempotent
        #expect(try simulator.list().isEmpty)
        // No namespace holds a board's address any more, and the host's bridge address is gone with the last board.
        let namespaceAddresses = try run("/usr/sbin/ip", ["-all", "netns", "exec", "ip", "-o", "-4", "addr", "show"]).output
        let hostAddresses = try run("/usr/sbin/ip", ["-o", "-4", "addr", "show"]).output
        for board in boards + third {
            #expect(!namespaceAddresses.contains(" \(board.host)/"))
            let bridgeAddress = board.host.split(separator: ".").dropLast().joined(separator: ".") + ".1/24"
            #expect(!hostAddresses.contains(" \(bridgeAddress)"))
        }
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
        #expect(!mounts.contains(directory.path))
        #expect(try run("/usr/bin/pgrep", ["-f", directory.path]).status == 1)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("boards/se7-2").path))
    }

    @Test func faultsAreInjectedAndClearedFromTheHostSide() throws {
        try withSimulator { simulator, boards in
            let board = try #require(boards.first)
            try simulator.inject(.noLibsophonPackage, into: board.name)
            #expect(try ssh(board, "dpkg-query -W sophon-soc-libsophon 2>/dev/null || echo none") == "none")
            try simulator.inject(.noTPUDriver, into: board.name)
            #expect(try ssh(board, "cat /sys/module/bmtpu/version 2>/dev/null || echo none") == "none")
            try simulator.inject(.noIonDebugfs, into: board.name)
            #expect(try ssh(board, "ls /sys/kernel/debug/ion 2>/dev/null || echo none") == "none")
            try simulator.inject(.clearAll, into: board.name)
            #expect(try ssh(board, "dpkg-query -W -f '${Version}' sophon-soc-libsophon") == "0.4.9")
            #expect(try ssh(board, "cat /sys/module/bmtpu/version") == "0.4.9")

            try simulator.inject(.unreadableBoot, into: board.name)
            #expect(try linaro(board, "cat /boot/emmcboot.itb > /dev/null").status != 0)
            #expect(try ssh(board, "dumpimage -l /boot/emmcboot.itb > /dev/null && echo root-reads-it") == "root-reads-it")

            try simulator.inject(.malformedMeminfo, into: board.name)
            #expect(try ssh(board, "grep -c MemAvailable /proc/meminfo || true") == "0")

            try simulator.inject(.clearAll, into: board.name)
            #expect(try ssh(board, "bash -lc 'bm-smi --noloop'").contains(" 0MB/\((Self.factoryNPU16G >> 20) + 2047 + 3072)MB"))
            #expect(try linaro(board, "cat /boot/emmcboot.itb > /dev/null").status == 0)
            #expect(try ssh(board, "grep -c MemAvailable /proc/meminfo") == "1")
        }
    }

    @Test func errorsSayWhatToDo() {
        #expect(SimulatorError.notRoot.description == "the simulator needs root (network and mount namespaces): run as root or with sudo")
        #expect(SimulatorError.missingTool("sshd").description.contains("sshd not found: run `make setup`"))
        var options = SimulatorOptions()
        options.kernelKiB = 200 * 1024
        #expect(throws: SimulatorError.self) { _ = try Simulator(stateDirectory: URL(fileURLWithPath: "/nonexistent")).up(options) }
    }

    // MARK: - Helpers

    static func smallBoards(bootDelay: Double) -> SimulatorOptions {
        var options = SimulatorOptions()
        options.bootDelay = bootDelay
        options.kernelKiB = 1024
        options.ramdiskKiB = 256
        return options
    }

    /// Starts one small board in a private state directory and always stops it.
    private func withSimulator(bootDelay: Double = 0, _ body: (Simulator, [SimulatedBoard]) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-sim-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let simulator = Simulator(stateDirectory: directory)
        defer { try? simulator.down() }
        try body(simulator, try simulator.up(Self.smallBoards(bootDelay: bootDelay)))
    }

    private func sshOptions(_ board: SimulatedBoard, key: Bool = true) -> [String] {
        (key ? ["-i", board.identityFile, "-o", "BatchMode=yes"] : ["-o", "PubkeyAuthentication=no"]) + [
            "-F", "/dev/null", "-o", "UserKnownHostsFile=\(board.knownHostsFile)", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=10", "-p", String(board.port),
        ]
    }

    /// Runs a command on the board as root with OpenSSH's client; throws when it fails.
    private func ssh(_ board: SimulatedBoard, _ command: String) throws -> String {
        let result = try run("/usr/bin/ssh", sshOptions(board) + ["root@\(board.host)", command])
        guard result.status == 0 else { throw CommandFailure(command: command, result: result) }
        return result.output
    }

    /// Runs a command on the board as linaro, logging in with the password through sshpass.
    private func linaro(_ board: SimulatedBoard, _ command: String) throws -> RunResult {
        try run("/usr/bin/sshpass", ["-p", board.linaroPassword, "/usr/bin/ssh"] + sshOptions(board, key: false)
            + ["linaro@\(board.host)", command])
    }

    struct RunResult: Equatable {
        var status: Int32
        var output: String
    }

    struct CommandFailure: Error, CustomStringConvertible {
        var command: String
        var result: RunResult
        var description: String { "`\(command)` exited \(result.status): \(result.output)" }
    }

    /// Runs a host tool; stdout and stderr together, trimmed.
    private func run(_ executable: String, _ arguments: [String]) throws -> RunResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return RunResult(status: process.terminationStatus,
                         output: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
