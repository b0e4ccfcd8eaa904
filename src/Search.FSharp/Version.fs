/// The library's identity, written into every result it produces.
module PatchDescent.Search.Version

/// The informational version of PatchDescent.Search.
let current =
    let asm = System.Reflection.Assembly.GetExecutingAssembly()
    asm.GetName().Version |> string
