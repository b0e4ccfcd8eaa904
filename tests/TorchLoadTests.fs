module PatchDescent.Tests.TorchLoadTests

open Expecto
open TorchSharp

[<Tests>]
let tests =
    testList "TorchSharp native library" [
        test "loads and multiplies matrices" {
            use a = torch.tensor([| 1.0f; 2.0f; 3.0f; 4.0f |]).reshape(2L, 2L)
            use b = torch.tensor([| 5.0f; 6.0f; 7.0f; 8.0f |]).reshape(2L, 2L)
            use c = a.matmul b
            // [[1*5+2*7, 1*6+2*8], [3*5+4*7, 3*6+4*8]]
            Expect.sequenceEqual (c.data<float32>().ToArray()) [| 19.0f; 22.0f; 43.0f; 50.0f |] "2x2 product"
        }
        test "back-propagates through a matmul" {
            use x = torch.tensor([| 1.0f; 2.0f; 3.0f |], requires_grad = true)
            use w = torch.tensor([| 4.0f; 5.0f; 6.0f |])
            use y = (x * x * w).sum()
            y.backward()
            // d/dx sum(w x^2) = 2 w x
            Expect.sequenceEqual ((nonNull x.grad).data<float32>().ToArray()) [| 8.0f; 20.0f; 36.0f |] "gradient 2wx"
        }
    ]
