import Foundation

/// Learning-rate schedules as pure functions of the step (or epoch) count, matching the values that
/// torch.optim.lr_scheduler produces after `step` calls to `scheduler.step()`. Being values, schedules can be
/// stored in an experiment's configuration and evaluated at any step when a run resumes.
public enum LRSchedule: Hashable, Codable, Sendable {
    case constant
    /// CosineAnnealingLR(T_max: total, eta_min: minLR).
    case cosine(total: Int, minLR: Float = 0)
    /// SequentialLR(LinearLR(start_factor: warmupStartLR/base, total_iters: warmup),
    /// CosineAnnealingLR(T_max: total − warmup, eta_min: minLR), milestones: [warmup]).
    case warmupCosine(warmup: Int, total: Int, warmupStartLR: Float = 0, minLR: Float = 0)
    /// The same linear warm-up, then the base rate held: an epoch-budget pilot's schedule, whose validation curves
    /// show when a method has learned what it can at that rate, before any decay flattens them by construction.
    case warmupConstant(warmup: Int, warmupStartLR: Float = 0)
    /// CosineAnnealingWarmRestarts(T_0: t0, T_mult: tMult, eta_min: minLR) (SGDR).
    case cosineRestarts(t0: Int, tMult: Int = 1, minLR: Float = 0)
    /// StepLR(step_size: size, gamma: gamma).
    case step(size: Int, gamma: Float = 0.1)
    /// PolynomialLR(total_iters: total, power: power) (nnU-Net's "poly" uses power 0.9).
    case polynomial(total: Int, power: Float = 1)
    /// UNETR's LinearWarmupCosineAnnealingLR (its optimizers/lr_scheduler.py), stepped once per epoch: `startLR` at
    /// epoch 0, rising linearly to the base rate at epoch warmup − 1, then cosine from the base rate at `warmup` to
    /// `minLR` at `total`.
    case linearWarmupCosine(warmup: Int, total: Int, startLR: Float = 0, minLR: Float = 0)

    public func lr(base: Float, step: Int) -> Float {
        switch self {
        case .constant: return base
        case let .cosine(total, minLR): return Schedule.cosine(step: step, base: base, total: total, minLR: minLR)
        case let .warmupCosine(warmup, total, start, minLR):
            return Schedule.warmupCosine(step: step, base: base, warmup: warmup, total: total, warmupStartLR: start, minLR: minLR)
        case let .warmupConstant(warmup, start):
            return Schedule.warmupCosine(step: Swift.min(step, warmup), base: base, warmup: warmup, total: warmup + 1,
                                         warmupStartLR: start)
        case let .cosineRestarts(t0, tMult, minLR):
            return Schedule.cosineRestarts(step: step, base: base, t0: t0, tMult: tMult, minLR: minLR)
        case let .step(size, gamma): return Schedule.step(step: step, base: base, size: size, gamma: gamma)
        case let .polynomial(total, power): return Schedule.polynomial(step: step, base: base, total: total, power: power)
        case let .linearWarmupCosine(warmup, total, start, minLR):
            if step < warmup {
                guard step > 0, warmup > 1 else { return start }
                return Float(Double(start) + Double(step) * (Double(base) - Double(start)) / Double(warmup - 1))
            }
            return Schedule.cosine(step: step - warmup, base: base, total: total - warmup, minLR: minLR)
        }
    }
}

/// The closed forms behind `LRSchedule`. Arithmetic in Double, as PyTorch does in Python floats.
public enum Schedule {
    /// η_min + (η − η_min)·(1 + cos(π·t/T))/2. Like PyTorch's closed form, it rises again after T.
    public static func cosine(step: Int, base: Float, total: Int, minLR: Float = 0) -> Float {
        let t = Double(step), tMax = Double(Swift.max(total, 1)), lo = Double(minLR)
        return Float(lo + (Double(base) - lo) * (1 + Foundation.cos(Double.pi * t / tMax)) / 2)
    }

    /// Linear rise from `warmupStartLR` to `base` over `warmup` steps, then cosine decay to `minLR` at `total`.
    public static func warmupCosine(step: Int, base: Float, warmup: Int, total: Int, warmupStartLR: Float = 0, minLR: Float = 0) -> Float {
        if step < warmup {
            let f = Double(step) / Double(warmup)
            return Float(Double(warmupStartLR) + (Double(base) - Double(warmupStartLR)) * f)
        }
        return cosine(step: step - warmup, base: base, total: total - warmup, minLR: minLR)
    }

    /// SGDR: cosine cycles of length t0, t0·tMult, t0·tMult², ..., each restarting at `base`.
    public static func cosineRestarts(step: Int, base: Float, t0: Int, tMult: Int = 1, minLR: Float = 0) -> Float {
        precondition(t0 > 0 && tMult >= 1, "cosineRestarts needs t0 > 0 and tMult >= 1")
        var tCur = step, tI = t0
        while tCur >= tI { tCur -= tI; tI *= tMult }
        let lo = Double(minLR)
        return Float(lo + (Double(base) - lo) * (1 + Foundation.cos(Double.pi * Double(tCur) / Double(tI))) / 2)
    }

    /// η·γ^⌊t/size⌋.
    public static func step(step: Int, base: Float, size: Int, gamma: Float = 0.1) -> Float {
        Float(Double(base) * Foundation.pow(Double(gamma), Double(step / size)))
    }

    /// η·(1 − min(t, T)/T)^power.
    public static func polynomial(step: Int, base: Float, total: Int, power: Float = 1) -> Float {
        let f = 1 - Double(Swift.min(step, total)) / Double(total)
        return Float(Double(base) * Foundation.pow(f, Double(power)))
    }
}
