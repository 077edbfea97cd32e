/// Chip names as bmodels and boards spell them.
public enum ChipName {
    /// True when a bmodel whose `chip` says `model` runs on a board whose chip is `board`. BM1684X was first
    /// named BM1686 (the name later went to BM1688), so bmodels of that time say "BM1686"; libbmrt on a BM1684X
    /// loads them (sophgo/libsophon tpu-runtime/src/bmruntime_bmodel.cpp, `Bmruntime::load_bmodel`).
    public static func runs(model: String, on board: String) -> Bool {
        let model = model.uppercased(), board = board.uppercased()
        return model == board || (model == "BM1686" && board == "BM1684X")
    }
}
