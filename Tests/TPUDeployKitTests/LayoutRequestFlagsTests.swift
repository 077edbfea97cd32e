import Testing
@testable import TPUDeployKit

@Suite struct LayoutRequestFlagsTests {
    @Test func exactlyOneLayoutPasses() throws {
        try LayoutRequestFlags(forModel: "chatglm2-6b").check()
        try LayoutRequestFlags(preset: "llm").check()
        try LayoutRequestFlags(npu: 7168, vpu: 0, vpp: 2048).check()
        try LayoutRequestFlags(rollback: true).check()
    }

    @Test func conflictingLayoutsAreNamedAndOneIsToBeKept() {
        let error = #expect(throws: LayoutRequestError.self) {
            try LayoutRequestFlags(preset: "llm", forModel: "chatglm2-6b").check()
        }
        #expect(error == .conflicting(given: ["--preset llm", "--for-model chatglm2-6b"]))
        let text = error?.description ?? ""
        #expect(text.contains("--preset llm and --for-model chatglm2-6b"))
        #expect(text.contains("keep only one"))
        #expect(!text.contains("say what layout"))
        #expect(throws: LayoutRequestError.conflicting(given: ["--npu 1 --vpu 2 --vpp 3", "--preset llm"])) {
            try LayoutRequestFlags(npu: 1, vpu: 2, vpp: 3, preset: "llm").check()
        }
    }

    @Test func noLayoutListsTheWays() {
        #expect(throws: LayoutRequestError.noLayout) { try LayoutRequestFlags().check() }
        let text = LayoutRequestError.noLayout.description
        for way in ["--for-model", "--preset", "--npu/--vpu/--vpp", "--rollback"] { #expect(text.contains(way)) }
    }

    @Test func incompleteSizesNameTheMissingOnes() {
        #expect(throws: LayoutRequestError.incompleteSizes(missing: ["--vpp"])) { try LayoutRequestFlags(npu: 1, vpu: 2).check() }
    }

    @Test func rollbackWithALayoutSaysWhichToDrop() {
        #expect(throws: LayoutRequestError.rollbackTakesNoLayout(given: ["--preset llm"])) {
            try LayoutRequestFlags(preset: "llm", rollback: true).check()
        }
        #expect(LayoutRequestError.rollbackTakesNoLayout(given: ["--preset llm"]).description.contains("drop --preset llm"))
    }
}
