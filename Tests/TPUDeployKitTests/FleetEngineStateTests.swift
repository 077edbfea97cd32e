import Foundation
import Testing
@testable import TPUDeployKit

/// `fleet-engine-state.sh`'s output read back: the deployment's manifest and whether its engine serves.
@Suite struct FleetEngineStateTests {
    private let manifest = #"{"files":{"m.bmodel":{"role":"bmodel","sha256":"00","size":1}},"schema":"tpudeploy.board-manifest/1"}"#

    @Test func aReadyEngineStartedAfterTheFilesChangedServes() {
        let probe = FleetDeploymentProbe("""
            @@now 1000
            @@manifest_mtime 900
            @@engine 4242 60 8080
            @@health 4242 {"status":"ready","model":"llama2-sim","family":"llama2","layers":2}
            @@manifest
            \(manifest)
            """)
        #expect(probe.manifest.files.keys.sorted() == ["m.bmodel"])
        #expect(probe.engine == FleetEngineState(state: .ready, pid: 4242, port: 8080, secondsRunning: 60, startedBeforeFilesChanged: false,
                                                 health: EngineHealth(status: .ready, model: "llama2-sim", family: "llama2", layers: 2)))
        #expect(probe.engine.label == "ready")
    }

    @Test func anEngineOlderThanItsFilesOrSilentOrUnaskedIsSaidSo() {
        let old = FleetDeploymentProbe("@@now 1000\n@@manifest_mtime 990\n@@engine 7 60 8080\n@@health 7 {\"status\":\"ready\"}\n@@manifest\n")
        #expect(old.engine.startedBeforeFilesChanged == true)
        #expect(old.engine.label == "ready (old files)")
        let silent = FleetDeploymentProbe("@@now 1000\n@@engine 7 60 8080\n@@health 7 \n@@manifest\n")
        #expect(silent.engine.state == .noAnswer)
        #expect(silent.engine.label == "no answer")
        let failed = FleetDeploymentProbe("@@now 1000\n@@engine 7 6 8080\n@@health 7 {\"status\":\"failed\",\"reason\":\"out of device memory\"}\n@@manifest\n")
        #expect(failed.engine.state == .failed)
        #expect(failed.engine.health?.reason == "out of device memory")
        let unasked = FleetDeploymentProbe("@@now 1000\n@@engine 7 6 8080\n@@health 7 no_client\n@@manifest\n")
        #expect(unasked.engine.state == .running)
        // No port on its command line: nothing was asked.
        let noPort = FleetDeploymentProbe("@@now 1000\n@@engine 7 6 -\n@@manifest\n")
        #expect(noPort.engine.state == .running && noPort.engine.port == nil)
    }

    @Test func noEngineIsStoppedAndOfSeveralTheReadyOneCounts() {
        let none = FleetDeploymentProbe("@@now 1000\n@@manifest\n")
        #expect(none.engine == FleetEngineState(state: .stopped))
        #expect(none.manifest.files.isEmpty)
        let two = FleetDeploymentProbe("@@now 1000\n@@engine 7 6 8080\n@@health 7 \n@@engine 8 6 8081\n@@health 8 {\"status\":\"ready\"}\n@@manifest\n")
        #expect(two.engine.pid == 8 && two.engine.state == .ready)
    }

    /// The table shows the deployment's engine state, and a failed engine's reason in the notes.
    @Test func theTableShowsEachBoardsEngineState() throws {
        func board(_ name: String, engine: FleetEngineState?) throws -> FleetBoardResult {
            let versions = SoftwareVersions(libsophon: "0.5.1", libsophonSource: nil, driver: nil, kernelBuild: nil, kernelBuildDate: nil)
            let report = BoardReport(
                target: "root@board", hostname: name, os: nil, kernel: nil, arch: nil, chip: "BM1684X", libsophonVersion: versions.libsophon,
                libsophonSource: nil, driverVersion: nil, kernelBuild: nil, kernelBuildDate: nil,
                llmRuntimeCheck: LLMRuntimeCheck(versions), dtb: "bm1684x_evb_v0.0.dtb", board: "1684x_evb", bootImage: nil, ddr: nil,
                heaps: [HeapStatus(name: "npu", liveBytes: 4 << 30)], liveHeapsKnown: true, rebootPending: nil, linux: LinuxMemoryStatus(),
                deviceMemory: DeviceMemoryUse([:]), dataFilesystem: nil, engine: EngineStatus(running: engine?.state != .stopped, pids: []),
                diagnosis: nil, warnings: [])
            var facts = FleetBoardFacts(report)
            var deployed = FleetBoardFacts.DeployedFiles(deployment: "d", directory: "/data/tpudeploy/d", manifest: BoardManifest(text: manifest))
            deployed.engine = engine
            facts.deployed = deployed
            return FleetBoardResult(name: name, host: "192.0.2.1", outcome: .ok, phase: .done, error: nil, seconds: 1, facts: facts)
        }
        let summary = FleetSummary(run: "r", command: "inspect", boards: [
            try board("a", engine: FleetEngineState(state: .ready, health: EngineHealth(status: .ready))),
            try board("b", engine: FleetEngineState(state: .stopped)),
            try board("c", engine: FleetEngineState(state: .failed, health: EngineHealth(status: .failed, reason: "bad bmodel"))),
        ], seconds: 1)
        let rows = FleetText.inspection(summary).split(separator: "\n").map(String.init)
        #expect(rows[0].contains("ENGINE"))
        #expect(rows[1].hasPrefix("a ") && rows[1].contains("m.bmodel") && rows[1].contains(" ready"))
        #expect(rows[2].hasPrefix("b ") && rows[2].contains(" stopped"))
        #expect(rows[3].hasPrefix("c ") && rows[3].contains(" failed") && rows[3].contains("engine: bad bmodel"))
        let line = try FleetJSONLines.line(summary)
        #expect(line.contains(#""engine":{"health":{"status":"ready"},"state":"ready"}"#), "\(line)")
    }
}
