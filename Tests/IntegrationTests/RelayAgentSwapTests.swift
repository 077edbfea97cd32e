import Foundation
import Testing
import TPUDeployKit

/// The relay agent is kept in the deployment directory, which may belong to another user than the one the host
/// logs in as (root pushing into linaro's /data). That user can replace the file between the host's hash check
/// (`relay-agent.sh have`) and the start (`relay-agent.sh run`): the program swapped in must never run.
@Suite("relay agent swapped on the board", .serialized, .enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
struct RelayAgentSwapTests {
    static let nativeAgent = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpu-relay-agent").path

    @Test func aProgramSwappedInAfterTheHashCheckIsNotRun() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let root = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            var linaroTarget = SimulatedBoardHarness.rootTarget(board)
            linaroTarget.user = "linaro"
            let linaro = try await SSHSession.connect(to: linaroTarget)
            do {
                // The deployment directory is linaro's; root (the login user of the rollout) installs the agent in it.
                let directory = "/data/tpudeploy/swapped"
                let made = try await linaro.run("mkdir -p \(directory) && stat -c %U \(directory)", timeout: 30)
                #expect(made.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "linaro")
                let script = try BoardScript.named("relay-agent.sh")
                let agent = Array(try Data(contentsOf: URL(fileURLWithPath: Self.nativeAgent)))
                let sha256 = Digest.hex(Digest.sha256(agent))
                let installed = try await root.run(script.commandLine(["install", directory]), input: agent, timeout: 60)
                #expect(installed.stdoutText.contains("@@ok"), "\(installed.stdoutText)\(installed.stderrText)")

                // The host's check passes: this is the agent it sent.
                let have = try await root.run(script.commandLine(["have", directory, sha256]), timeout: 30)
                #expect(have.stdoutText.contains("@@have"), "\(have.stdoutText)")

                // Then linaro puts a program of its own in the agent's place (it may: the directory is its own).
                let marker = "/tmp/tpu-relay-swapped-\(UUID().uuidString.prefix(8))"
                let swapped = try await linaro.run(
                    "printf '#!/bin/sh\\nid -un > \(marker)\\n' > \(directory)/evil && chmod 755 \(directory)/evil && "
                        + "mv -f \(directory)/evil \(directory)/.tpu-relay-agent && stat -c %U \(directory)/.tpu-relay-agent", timeout: 30)
                #expect(swapped.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "linaro", "\(swapped.stdoutText)\(swapped.stderrText)")

                // The start, with the hash the host checked: refused, and the swapped program never ran.
                let run = try await root.run(script.commandLine(["run", directory, sha256, "1", "0", "m.bin", "10", String(repeating: "0", count: 64), "644", "0"]), timeout: 60)
                #expect(run.stdoutText.contains("@@error") && run.stdoutText.contains("not the agent tpudeploy sent"), "\(run.stdoutText)\(run.stderrText)")
                #expect(!run.stdoutText.contains("@@ready"))
                let ran = try await root.run("cat \(marker) 2>/dev/null; rm -f \(marker); true", timeout: 30)
                #expect(ran.stdoutText.isEmpty, "the swapped program ran as \(ran.stdoutText)")
                // No private copy is left behind.
                let copies = try await root.run("ls -d ${TMPDIR:-/tmp}/tpu-relay.* 2>/dev/null | xargs -r -n1 sh -c 'test -e \"$0/agent\" && cmp -s \"$0/agent\" \(directory)/.tpu-relay-agent && echo \"$0\"'; true", timeout: 30)
                #expect(copies.stdoutText.isEmpty, "\(copies.stdoutText)")

                // While linaro keeps swapping the two back and forth, every start either runs the real agent or is
                // refused: the check is made on the private copy that runs, so no swap in between gets through.
                let stop = "\(directory)/stop-swapping"
                let evil = "printf '#!/bin/sh\\nid -un > \(marker)\\n' > \(directory)/.evil && chmod 755 \(directory)/.evil"
                let loop = "\(evil) && cat > \(directory)/.real && chmod 755 \(directory)/.real && while [ ! -e \(stop) ]; do "
                    + "ln -f \(directory)/.real \(directory)/n && mv -f \(directory)/n \(directory)/.tpu-relay-agent; "
                    + "ln -f \(directory)/.evil \(directory)/n && mv -f \(directory)/n \(directory)/.tpu-relay-agent; done"
                async let racing = linaro.run(loop, input: agent, timeout: 300)
                var outcomes: Set<String> = []
                for _ in 0..<15 {
                    // The real agent, started, waits for its key; its input is empty, so it ends at once.
                    let start = try await root.run(script.commandLine(["run", directory, sha256, "1", "0", "m.bin", "10", String(repeating: "0", count: 64), "644", "0"]), input: [], timeout: 60)
                    outcomes.insert(start.stdoutText.contains("@@ready") ? "ran the agent" : start.stdoutText.contains("not the agent") ? "refused" : "other: \(start.stdoutText)")
                }
                _ = try await root.run("touch \(stop)", timeout: 30)
                _ = try await racing
                #expect(outcomes.isSubset(of: ["ran the agent", "refused"]), "\(outcomes)")
                let ranRacing = try await root.run("cat \(marker) 2>/dev/null; rm -f \(marker); true", timeout: 30)
                #expect(ranRacing.stdoutText.isEmpty, "a swapped program ran as \(ranRacing.stdoutText)")
            } catch {
                await root.close()
                await linaro.close()
                throw error
            }
            await root.close()
            await linaro.close()
        }
    }

    /// Installing the agent writes a temporary file in that directory first: the other user must not be able to
    /// plant a link at its name and have root write the agent through it into a file of root's.
    @Test func aLinkPlantedWhereTheAgentIsWrittenIsNotWrittenThrough() async throws {
        try await SimulatedBoardHarness.withBoards { _, boards in
            let board = boards[0]
            let root = try await SSHSession.connect(to: SimulatedBoardHarness.rootTarget(board))
            var linaroTarget = SimulatedBoardHarness.rootTarget(board)
            linaroTarget.user = "linaro"
            let linaro = try await SSHSession.connect(to: linaroTarget)
            do {
                let directory = "/data/tpudeploy/planted"
                _ = try await linaro.run("mkdir -p \(directory)", timeout: 30)
                let victim = "/root/precious-\(UUID().uuidString.prefix(8))"
                _ = try await root.run("echo precious > \(victim) && chmod 600 \(victim)", timeout: 30)
                // The pids the next shells will get are close to this one: linaro plants a link at the temporary
                // name of every one of them (one process, so that planting uses no pids of its own).
                let pid = try #require(Int(try await root.run("sh -c 'echo $$'", timeout: 30).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
                let planted = try await linaro.run(
                    "perl -e 'for my $p (\(pid)..\(pid + 3000)) { symlink(\"\(victim)\", \"\(directory)/.tpu-relay-agent.tmp.$p\") or die \"$!\" }'; find \(directory) -type l | wc -l", timeout: 60)
                #expect(Int(planted.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 3000, "\(planted.stdoutText)\(planted.stderrText)")

                let script = try BoardScript.named("relay-agent.sh")
                let agent = Array(try Data(contentsOf: URL(fileURLWithPath: Self.nativeAgent)))
                let installed = try await root.run(script.commandLine(["install", directory]), input: agent, timeout: 60)
                #expect(installed.stdoutText.contains("@@ok"), "\(installed.stdoutText)\(installed.stderrText)")
                let after = try await root.run("cat \(victim); stat -c %a \(victim); rm -f \(victim)", timeout: 30)
                #expect(after.stdoutText == "precious\n600\n", "root wrote through linaro's link: \(after.stdoutText.prefix(80))")
                // What was installed is the agent, and the host's check finds it.
                let have = try await root.run(script.commandLine(["have", directory, Digest.hex(Digest.sha256(agent))]), timeout: 30)
                #expect(have.stdoutText.contains("@@have"), "\(have.stdoutText)")
            } catch {
                await root.close()
                await linaro.close()
                throw error
            }
            await root.close()
            await linaro.close()
        }
    }
}
