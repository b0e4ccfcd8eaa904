using PatchDescent.Model;

Console.WriteLine($"PatchDescent {PatchDescent.Search.Version.current}");
return 0;
