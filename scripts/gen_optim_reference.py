#!/usr/bin/python3
"""Reference values for tests/check_optim.c, printed as C arrays (pasted into the test).

SGD: three steps of torch.optim.SGD(lr=0.1) on loss = sum(c * w * w + d * w) from w0, for
(momentum, weight_decay, nesterov) in CONFIGS. Schedules: PyTorch's MultiStepLR and
CosineAnnealingLR stepped once per epoch. Run: /usr/bin/python3 scripts/gen_optim_reference.py
"""
import torch

W0 = [0.5, -1.0, 2.0, 0.25, -0.75]
C = [1.0, 0.5, 0.25, 2.0, 1.5]
D = [0.1, -0.2, 0.3, 0.0, 0.4]
CONFIGS = [(0.9, 0.1, False), (0.9, 0.1, True), (0.0, 0.01, False), (0.5, 0.0, False)]


def num(x):
    t = "%.9g" % x
    return t + (".0f" if "." not in t and "e" not in t else "f")


def fmt(xs):
    return "{" + ", ".join(num(x) for x in xs) + "}"


def sgd_rows():
    c = torch.tensor(C)
    d = torch.tensor(D)
    for mu, wd, nest in CONFIGS:
        w = torch.tensor(W0, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1, momentum=mu, weight_decay=wd, nesterov=nest)
        rows = []
        for _ in range(3):
            opt.zero_grad()
            loss = (c * w * w + d * w).sum()
            loss.backward()
            opt.step()
            rows.append(fmt(w.detach().tolist()))
        print("    {%s, %s, %d, {%s}}," % (num(mu), num(wd), int(nest), ", ".join(rows)))


def sched_rows():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    s = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 6], gamma=0.1)
    out = []
    for _ in range(8):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    print("static const float step_ref[8] = %s;" % fmt(out))
    opt = torch.optim.SGD([p], lr=0.05)
    s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5, eta_min=0.001)
    out = []
    for _ in range(6):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    print("static const float cosine_ref[6] = %s;" % fmt(out))


if __name__ == "__main__":
    print("/* torch %s */" % torch.__version__)
    sgd_rows()
    sched_rows()
