import Foundation

/// The folder of one command-line fleet test: the simulator's state, the rollouts' journals (XDG_STATE_HOME) and
/// the inventory `sim up` writes all live in it, and tpudeploy runs there with the checkout's payloads.
struct FleetTestDirectory {
    let directory: URL
    /// `--state-dir` of the test's simulated boards.
    let state: String
    let environment: [String: String]

    init(prefix: String, repositoryRoot: URL) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        state = directory.appendingPathComponent("sim").path
        environment = ["TPUDEPLOY_PAYLOADS": repositoryRoot.appendingPathComponent("Payloads").path,
                       "XDG_STATE_HOME": directory.appendingPathComponent("state").path]
    }

    func tpudeploy(_ arguments: [String]) throws -> CommandRunOutcome {
        try runTPUDeploy(arguments, in: directory, environment: environment)
    }

    /// Stops the boards, then removes the folder: only once they are gone, since their /boot and /data are
    /// mounted inside it.
    func removeWithItsBoards() {
        if (try? tpudeploy(["sim", "down", "--state-dir", state]))?.status == 0 {
            try? FileManager.default.removeItem(at: directory)
        }
    }
}
