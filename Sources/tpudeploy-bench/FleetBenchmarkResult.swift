import Foundation

/// bench-results/fleet.json: tpudeploy's fleet commands and what a site would use instead, side by side, in one
/// run on this machine. A number that was not measured is absent and `not_measured` says why; none is made up.
struct FleetBenchmarkResult: Encodable {
    var name = "fleet: control of 64 simulated boards and distribution of a big file to 16, against Ansible and parallel-scp"
    var goals = [
        "control": "fleet inspect of 64 boards faster than Ansible gathering facts with the same parallelism; host memory per board in flight reported",
        "rollout_at_target": "a rollout of 64 boards already at the target: every board skipped after one round trip, in a few seconds, far less than Ansible checking the same facts, file hashes and engine health with the same parallelism; host memory per board in flight reported",
        "distribution_wall": "16 boards over 100 Mbit/s links and a 100 Mbit/s host link: wall time ≤ 1.5× one board's push",
        "distribution_host_bytes": "host bytes sent ≤ 1.1× the payload",
    ]
    var machine: Machine
    var tools: [String: String]
    var control: Control
    var distribution: Distribution
    var benchmarkSeconds: Double
    var notes: String

    struct Machine: Encodable {
        var cores: Int
        var memoryBytes: UInt64
        /// The 1-minute load average (runnable processes, all users) when the benchmark started and ended.
        var loadAverageAtStart: Double
        var loadAverageAtEnd: Double
        var note = "shared with other work (other builds and simulated boards may run beside the bench): expect noise"
    }

    /// One metered run of one tool.
    struct Run: Encodable {
        var seconds: Double
        /// Boards the tool reported done (ok, SUCCESS or CHANGED).
        var boardsOK: Int
        var exitStatus: Int32
        var peakProcessRSSBytes: UInt64
        var peakTreePSSBytes: UInt64
        var peakProcesses: Int

        init(_ run: MeteredRun, boardsOK: Int) {
            seconds = run.seconds
            self.boardsOK = boardsOK
            exitStatus = run.exitStatus
            peakProcessRSSBytes = run.peakProcessRSSBytes
            peakTreePSSBytes = run.peakTreePSSBytes
            peakProcesses = run.peakProcesses
        }
    }

    /// A tool run a few times over the same boards.
    struct Tool: Encodable {
        var tool: String
        var command: String
        var runs: [Run]
        var medianSeconds: Double?
        /// Peak over the runs of the whole process tree's memory (summed Pss: shared pages counted once), divided
        /// by the boards in flight.
        var hostMemoryPerBoardBytes: UInt64?
        /// Peak over the runs of the largest process's peak RSS (VmHWM), divided by the boards in flight: for
        /// tpudeploy, one process, its whole peak RSS; for Ansible, its biggest fork only.
        var peakProcessRSSPerBoardBytes: UInt64?
        var notMeasured: String?

        init(tool: String, command: String, runs: [Run], boardsInFlight: Int) {
            self.tool = tool
            self.command = command
            self.runs = runs
            medianSeconds = median(runs.map(\.seconds))
            let boards = UInt64(max(boardsInFlight, 1))
            hostMemoryPerBoardBytes = (runs.map(\.peakTreePSSBytes).max() ?? 0) / boards
            peakProcessRSSPerBoardBytes = (runs.map(\.peakProcessRSSBytes).max() ?? 0) / boards
        }

        init(tool: String, command: String, notMeasured: String) {
            self.tool = tool
            self.command = command
            runs = []
            self.notMeasured = notMeasured
        }
    }

    /// Whether 64 simulated boards fit this machine, from what starting them took.
    struct Fit: Encodable {
        var boards: Int
        var simUpSeconds: Double
        /// MemAvailable before `sim up` minus after (other work on the machine moves it too).
        var memoryTakenBytes: Int64
        var memoryPerBoardBytes: Int64
        var processesAdded: Int
        var processesPerBoard: Double
        var pidMax: Int
        /// Kernel and ramdisk of each board's boot image, held in its /boot tmpfs, in MiB.
        var bootImageMebibytes: Int
        var verdict: String
    }

    struct Control: Encodable {
        var boards: Int
        var parallelism: Int
        var fit: Fit?
        /// Whether every run of every tool got every board's facts (see each run's boards_ok).
        var everyBoardAnswered: Bool
        var inspect: Tool
        var ansibleSetup: [Tool]
        /// Ansible's median (default settings) over tpudeploy's median.
        var speedupOverAnsible: Double?
        var goalMet: Bool?
        var rollout: Rollout
        var notes: String
    }

    /// `fleet rollout` of the control boards: from nothing to serving, then again with every board at the target,
    /// against Ansible checking what the skip checks.
    struct Rollout: Encodable {
        /// The rollout that brings every board to the target (push, launch, verify of a small simulated model).
        var full: Tool
        /// The same command again: every board skipped after one look.
        var atTarget: Tool
        /// `ansible-playbook` checking the same boards: facts, the deployed files' sha256 and the engine's /health.
        var ansibleCheck: [Tool]
        /// What preparing the boards took beyond the full rollout (a retry of boards it did not finish), empty when
        /// it finished them all.
        var preparation: [String]
        /// Ansible's median (default settings) over the at-target rollout's median.
        var speedupOverAnsible: Double?
        var goalMet: Bool?
        var notes = "The at-target rollout connects to every board, reads its facts (board, dtb, RAM, live heaps), the sizes of the deployed files and the manifest push wrote (name, size, sha256 of each file as verified on the board when it was written), finds the engine started from that directory after the manifest changed and asks its /health over an SSH port forward; it does not re-hash the files. Ansible's check gathers all facts, hashes every deployed file on the board (stat with checksum_algorithm sha256, one module run per file) and GETs /health on the board's 127.0.0.1 (uri): the way an Ansible site checks the same thing. host_memory_per_board_bytes as for inspect (sampled every 0.05 s for tpudeploy's at-target runs, 0.25 s otherwise)."
    }

    struct Transfer: Encodable {
        var tool: String
        var command: String
        var seconds: Double?
        var hostBytesSent: UInt64?
        /// Boards whose copy has the payload's sha256.
        var boardsVerified: Int?
        var ratioToOneBoard: Double?
        var hostBytesPerPayload: Double?
        var wallGoalMet: Bool?
        var hostBytesGoalMet: Bool?
        /// tpudeploy only: the file bytes the host sent as the distributor counts them (the bridge counter above
        /// adds SSH's framing, TCP/IP headers and the commands).
        var reportedHostFileBytes: UInt64?
        /// tpudeploy only: boards the host fed itself (a chain's head, or a board that reached none before it).
        var boardsTheHostSentTo: [String]?
        var notes: String?
        var notMeasured: String?
    }

    struct Distribution: Encodable {
        var boards: Int
        var payloadBytes: UInt64
        var rateMbit: Int
        var shaping: String
        /// The yardstick: scp of the payload to one board over the same shaped links.
        var oneBoard: Transfer
        /// From one source at the link rate: boards × payload / rate.
        var fromOneSourceBoundSeconds: Double
        var transfers: [Transfer]
        var notMeasured: String?
    }
}
