// AdamW with global-norm gradient clipping, written with tf ops so every step is explicit and
// seeded runs repeat exactly (tfjs's own optimizers have no clipping and no decoupled decay).
import * as tf from '@tensorflow/tfjs';
import type { Params } from './model';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  clipNorm: number;
}

export class AdamW {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;

  constructor(
    private readonly params: Params,
    private readonly o: AdamWOptions,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /** One update at learning rate `lr` (grads keyed by variable name, as tf.variableGrads gives them); returns the gradient's global norm before clipping. */
  step(grads: tf.NamedTensorMap, lr: number): tf.Scalar {
    this.t++;
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.o;
    const bc1 = 1 - Math.pow(beta1, this.t);
    const bc2 = 1 - Math.pow(beta2, this.t);
    const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))))) as tf.Scalar;
    const scale = tf.tidy(() => tf.minimum(1, tf.div(clipNorm, tf.add(norm, 1e-6))));
    for (const [name, p] of this.params) {
      const g0 = grads[p.name];
      if (!g0) continue;
      tf.tidy(() => {
        const g = tf.mul(g0, scale);
        const m = this.m.get(name) as tf.Variable;
        const v = this.v.get(name) as tf.Variable;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
        // Decoupled decay on matrices only (norm gains stay at their scale), as is customary.
        const decay = p.shape.length > 1 ? weightDecay : 0;
        p.assign(tf.sub(tf.mul(p, 1 - lr * decay), tf.mul(update, lr)));
      });
    }
    scale.dispose();
    return norm;
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
  }
}
