namespace PatchDescent.Search

type Method =
    | Descent
    | Eap
    | EapIg of steps: int
    | Acdc of tau: float
    | Prune of floor: float

module Method =
    let name method =
        match method with
        | Descent -> "descent"
        | Eap -> "eap"
        | EapIg _ -> "eap-ig"
        | Acdc _ -> "acdc"
        | Prune _ -> "prune"

    let defaultIgSteps = 5

    let defaultAcdcTau = 0.01

    let defaultPruneFloor = Methods.Prune.defaultFloor
