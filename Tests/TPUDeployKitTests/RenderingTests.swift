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
}
