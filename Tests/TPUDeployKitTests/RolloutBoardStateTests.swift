import Testing
@testable import TPUDeployKit

/// What `rollout-state.sh` prints, read back: the files' sizes, the engines and whether one runs on these files.
@Suite("rollout's look at a deployment directory")
struct RolloutBoardStateTests {
    static let manifest = #"{"files":{"m.bmodel":{"role":"bmodel","sha256":"aa","size":10},"tokenizer.model":{"role":"tokenizer","sha256":"bb","size":4}},"schema":"tpudeploy.board-manifest/1"}"#

    @Test func anEngineStartedAfterTheManifestRunsOnTheseFiles() {
        let text = "@@now 1000\n@@manifest_mtime 900\n@@size 10 800 m.bmodel\n@@size 3 850 tokenizer.model\n@@engine 42 100\n@@manifest\n\(Self.manifest)\n"
        let state = RolloutBoardState(text)
        #expect(state.sizes == ["m.bmodel": 10, "tokenizer.model": 3])
        #expect(state.engines == [42: 100])
        #expect(state.engineRunsOnTheseFiles)
        let bmodel = PayloadEntry(name: "m.bmodel", role: .bmodel, size: 10, sha256: "aa", mode: 0o644, localPath: "/x/m.bmodel")
        let tokenizer = PayloadEntry(name: "tokenizer.model", role: .tokenizer, size: 4, sha256: "bb", mode: 0o644, localPath: "/x/t")
        #expect(state.holds(bmodel))
        // The manifest says 4 bytes, the board holds 3: a torn file is sent again.
        #expect(!state.holds(tokenizer))
    }

    @Test func aFileWrittenOnTheBoardAfterTheManifestIsNotHeld() {
        let text = "@@now 1000\n@@manifest_mtime 900\n@@size 10 901 m.bmodel\n@@manifest\n\(Self.manifest)\n"
        let state = RolloutBoardState(text)
        #expect(state.modified == ["m.bmodel": 901])
        #expect(!state.holds(PayloadEntry(name: "m.bmodel", role: .bmodel, size: 10, sha256: "aa", mode: 0o644, localPath: "/x/m.bmodel")))
    }

    @Test func anEngineOlderThanTheFilesOrNoneDoesNot() {
        #expect(!RolloutBoardState("@@now 1000\n@@manifest_mtime 950\n@@engine 42 100\n@@manifest\n").engineRunsOnTheseFiles)
        #expect(!RolloutBoardState("@@now 1000\n@@manifest_mtime 950\n@@manifest\n").engineRunsOnTheseFiles)
        // Nothing pushed: no manifest time, an empty manifest.
        let empty = RolloutBoardState("@@now 1000\n@@engine 42 5\n@@manifest\n")
        #expect(!empty.engineRunsOnTheseFiles)
        #expect(empty.manifest.files.isEmpty)
    }
}
