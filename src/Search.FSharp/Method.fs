namespace PatchDescent.Search

type Method =
    | Descent
    | Eap
    | EapIg of steps: int
    | Acdc of tau: float

module Method =
    let name method =
        match method with
        | Descent -> "descent"
        | Eap -> "eap"
        | EapIg _ -> "eap-ig"
        | Acdc _ -> "acdc"

    let defaultIgSteps = 5

    let defaultAcdcTau = 0.01
