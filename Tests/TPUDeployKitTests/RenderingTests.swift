import Testing
@testable import TPUDeployKit

@Suite struct RenderingTests {
    @Test func addressesShowTheBankThenTheOffset() {
        #expect(MemoryLayoutText.address(0x1_2410_0000) == "0x1_24100000")
        #expect(MemoryLayoutText.address(0x3_0000_0000) == "0x3_00000000")
        #expect(MemoryLayoutText.address(0x5000_0000) == "0x50000000")
    }

    @Test func byteCountsUseBinaryUnits() {
        #expect(ByteCount.human(0xF6E0_0000) == "3.86 GiB")
        #expect(ByteCount.human(512 << 20) == "512 MiB")
        #expect(ByteCount.human(100) == "100 B")
    }

    @Test func tablesAlignColumnsAndTrimTrailingSpace() {
        let table = TextTable(header: ["heap", "size", ""], rows: [["npu", "3950 MiB", ""], ["vpp", "3 GiB", "x"]])
        #expect(table.render() == "heap  size\nnpu   3950 MiB\nvpp   3 GiB     x")
    }

    @Test func theReportShowsEachHeapsUseTheirSumAndTheVersionsVerdict() {
        let versions = SoftwareVersions(libsophon: "0.4.9", libsophonSource: "dpkg sophon-soc-libsophon", driver: "0.4.9",
                                        kernelBuild: "#2 SMP Sat Nov 18 10:07:36 HKT 2023", kernelBuildDate: "2023-11-18")
        let live: [String: LiveHeap] = ["npu": LiveHeap(totalBytes: 4 << 30, usedBytes: 1 << 30),
                                        "vpp": LiveHeap(totalBytes: 2 << 30, usedBytes: 512 << 20)]
        let check = LLMRuntimeCheck(versions)
        let report = BoardReport(
            target: "root@board", hostname: "evb1", os: nil, kernel: nil, arch: nil, chip: "BM1684X", libsophonVersion: versions.libsophon,
            libsophonSource: versions.libsophonSource, driverVersion: versions.driver, kernelBuild: versions.kernelBuild,
            kernelBuildDate: versions.kernelBuildDate,
            llmRuntimeCheck: check, dtb: nil, board: nil, bootImage: nil, ddr: nil,
            heaps: [HeapStatus(name: "npu", liveBytes: 4 << 30, liveUsedBytes: 1 << 30),
                    HeapStatus(name: "vpu"),
                    HeapStatus(name: "vpp", liveBytes: 2 << 30, liveUsedBytes: 512 << 20)],
            liveHeapsKnown: true, rebootPending: nil, linux: LinuxMemoryStatus(), deviceMemory: DeviceMemoryUse(live),
            dataFilesystem: nil, engine: EngineStatus(running: false, pids: []), diagnosis: nil, warnings: check.warning.map { [$0] } ?? [])
        let text = BoardReportText.render(report)
        #expect(text.contains("libsophon      0.4.9 (dpkg sophon-soc-libsophon), driver 0.4.9, kernel built 2023-11-18: too old for LLM-TPU bmodels"))
        #expect(text.contains("device memory  1.50 GiB used of 6 GiB (NPU + VPP heaps; bm-smi's figure)"))
        #expect(text.contains("npu   -                 -                4 GiB      1 GiB (25%)"))
        #expect(text.contains("vpp   -                 -                2 GiB      512 MiB (25%)"))
        #expect(text.contains("warning: this board's SoC image is older than sophgo/LLM-TPU's bmodels need"))
    }
}
