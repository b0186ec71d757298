//! Example proto2ffi library with fixed-layout messages (`proto/particles.proto`):
//! a particle simulation step, a struct round trip that touches every field
//! kind, and a luma histogram over pixels that stay in the caller's memory.
//!
//! Handlers get `&Request` and `&mut Response`: structs the caller wrote in
//! its own memory, checked by the guard (bools 0/1, counts within bounds,
//! UTF-8, array references) before the handler runs. Nothing is encoded.

use proto2ffi::Status;

/// Generated from `proto/particles.proto`.
pub mod pb {
    proto2ffi::include_proto!("particles.v1");
}
use pb::fixed::{Frame, Histogram, Particle, Probe};
use pb::ParticleMessage;

proto2ffi::library!(prefix = "particles", init = || register_particles(Sim));
pub use pb::register_particles;

/// The time step of [`step`]: 1/60 s.
pub const DT: f32 = 1.0 / 60.0;
/// Gravity along -y, m/s².
pub const GRAVITY: f32 = 9.81;

/// One explicit Euler step under gravity.
#[inline]
pub fn step(p: &Particle) -> Particle {
    let vy = p.vy - GRAVITY * DT;
    Particle {
        x: p.x + p.vx * DT,
        y: p.y + vy * DT,
        z: p.z + p.vz * DT,
        vx: p.vx,
        vy,
        vz: p.vz,
    }
}

/// The implementation of `particles.v1.Particles`. `build.rs` names it
/// (`implementation(..)`), so the entry points call it directly and each
/// handler is inlined into its guard.
pub struct Sim;

impl pb::Particles for Sim {
    fn step(&self, request: &Particle, response: &mut Particle) -> Result<(), Status> {
        *response = step(request);
        Ok(())
    }

    fn step_encoded(&self, request: ParticleMessage) -> Result<ParticleMessage, Status> {
        let p = Particle {
            x: request.x,
            y: request.y,
            z: request.z,
            vx: request.vx,
            vy: request.vy,
            vz: request.vz,
        };
        let s = step(&p);
        Ok(ParticleMessage {
            x: s.x,
            y: s.y,
            z: s.z,
            vx: s.vx,
            vy: s.vy,
            vz: s.vz,
        })
    }

    fn mirror(&self, request: &Probe, response: &mut Probe) -> Result<(), Status> {
        *response = mirror(request)?;
        Ok(())
    }

    fn luma(&self, request: &Frame, response: &mut Histogram) -> Result<(), Status> {
        // SAFETY: inside a handler the guard has checked the reference.
        let pixels = unsafe { request.pixels_slice() };
        let expected = u64::from(request.width) * u64::from(request.height);
        if pixels.len() as u64 != expected {
            return Err(Status::invalid_argument(format!(
                "a {}x{} frame has {expected} pixels, got {}",
                request.width,
                request.height,
                pixels.len()
            )));
        }
        if (response.bins_ref().capacity as usize) < 256 {
            return Err(Status::invalid_argument(
                "Histogram.bins needs storage for 256 bins",
            ));
        }
        // SAFETY: checked by the guard; the caller lent it for this call.
        let bins = unsafe { response.bins_storage_mut() };
        bins[..256].fill(0);
        for &p in pixels {
            bins[luma(p) as usize] += 1;
        }
        response.set_bins_len(256)?;
        response.pixels = pixels.len() as u64;
        Ok(())
    }
}

/// Rec. 601 luma of an RGBA pixel (R in the lowest byte), 8-bit fixed point.
pub fn luma(rgba: u32) -> u8 {
    let (r, g, b) = (rgba & 0xff, (rgba >> 8) & 0xff, (rgba >> 16) & 0xff);
    ((77 * r + 150 * g + 29 * b) >> 8) as u8
}

/// Every field changed in a documented way: text and arrays reversed, bools
/// negated, numbers moved by a fixed step (the Dart and C tests check each).
pub fn mirror(r: &Probe) -> Result<Probe, Status> {
    let mut p = Probe::default();
    p.set_name(&r.name().chars().rev().collect::<String>())?;
    p.set_alive(!r.alive());
    p.position = pb::fixed::Vec3 {
        x: r.position.x + 1.0,
        y: r.position.y + 2.0,
        z: r.position.z + 3.0,
    };
    let trail: Vec<_> = r
        .trail()
        .iter()
        .rev()
        .map(|v| pb::fixed::Vec3 { x: -v.x, ..*v })
        .collect();
    p.set_trail(&trail)?;
    p.set_samples(&r.samples().iter().map(|s| s * 2.0).collect::<Vec<_>>())?;
    p.set_tag(&r.tag().iter().rev().copied().collect::<Vec<_>>())?;
    p.set_phases(&r.phases().iter().rev().copied().collect::<Vec<_>>())?;
    p.set_flags(&r.flags().iter().map(|f| 1 - f).collect::<Vec<_>>())?;
    let s = &r.scalars;
    let t = &mut p.scalars;
    t.set_flag(!s.flag());
    t.i64 = s.i64.wrapping_add(1);
    t.i32 = s.i32.wrapping_add(1);
    t.u64 = s.u64.wrapping_add(1);
    t.u32 = s.u32.wrapping_add(1);
    t.s32 = s.s32.wrapping_sub(1);
    t.s64 = s.s64.wrapping_sub(1);
    t.f32 = s.f32.wrapping_mul(2);
    t.f64 = s.f64.wrapping_add(1);
    t.sf32 = s.sf32.wrapping_neg();
    t.sf64 = s.sf64.wrapping_neg();
    t.fl = s.fl + 0.5;
    t.db = s.db * 2.0;
    t.set_phase_raw((s.phase_raw() + 1).rem_euclid(4));
    t.set_last(!s.last());
    Ok(p)
}
