import Foundation
import Testing
import TPUDeployKit

/// The built `tpudeploy` executable, beside the test bundle.
private let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tpudeploy").path
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs `tpudeploy sim …` with no terminal; returns the exit status, stdout and stderr.
private func sim(_ arguments: [String], state: String) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = ["sim"] + arguments + ["--state-dir", state]
    var environment = ProcessInfo.processInfo.environment
    environment["TPUDEPLOY_PROFILES"] = repositoryRoot.appendingPathComponent("Profiles").path
    process.environment = environment
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    process.currentDirectoryURL = FileManager.default.temporaryDirectory
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

private func stateDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tpd-simcli-\(UUID().uuidString.prefix(8))").path
}

@Suite("tpudeploy sim on the command line")
struct SimCommandLineTests {
    @Test func downOfANameThatIsNoBoardFails() throws {
        let outcome = try sim(["down", "nope"], state: stateDirectory())
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("no simulated board named nope"))
        #expect(!outcome.stdout.contains("stopped"))
    }

    @Test(.enabled(if: SimulatedBoardHarness.isRoot, "needs root for namespaces"))
    func listAsJSONDownOfATypoAndACutCable() throws {
        let state = stateDirectory()
        defer {
            _ = try? sim(["down"], state: state)
            try? FileManager.default.removeItem(atPath: state)
        }
        let up = try sim(["up", "--boot-delay", "0", "--no-config"], state: state)
        #expect(up.status == 0, "\(up.stderr)")
        let name = try #require(up.stdout.split(separator: " ").first.map(String.init))

        let listed = try sim(["list", "--json"], state: state)
        #expect(listed.status == 0, "\(listed.stderr)")
        let boards = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(boards.count == 1)
        #expect(boards.first?["state"] as? String == "up")
        #expect(boards.first?["reason"] == nil)
        #expect((boards.first?["board"] as? [String: Any])?["name"] as? String == name)
        #expect(!listed.stdout.contains("_0"))

        let typo = try sim(["down", name + "x"], state: state)
        #expect(typo.status == 1)
        #expect(typo.stderr.contains("no simulated board named \(name)x"))
        #expect(try sim(["list"], state: state).stdout.contains("\(name)  "))

        let cut = try sim(["link", name, "--cut", "--json"], state: state)
        #expect(cut.status == 0, "\(cut.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(cut.stdout.utf8)) as? [String: Any])?["connected"] as? Bool == false)
        let restored = try sim(["link", name, "--restore"], state: state)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try sim(["link", name, "--cut", "--restore"], state: state).status != 0)

        // Without names every board goes, and the answer names them; then there is nothing left to stop.
        let down = try sim(["down", "--json"], state: state)
        #expect(down.status == 0, "\(down.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(down.stdout.utf8)) as? [String: [String]])?["stopped"] == [name], "\(down.stdout)")
        let after = try sim(["list", "--json"], state: state).stdout
        #expect((try JSONSerialization.jsonObject(with: Data(after.utf8)) as? [Any])?.isEmpty == true)
        let again = try sim(["down"], state: state)
        #expect(again.status == 0)
        #expect(again.stdout.contains("nothing to stop"), "\(again.stdout)")
    }
}
